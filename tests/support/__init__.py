"""Helpers shared by the test levels: real services, fresh databases."""
