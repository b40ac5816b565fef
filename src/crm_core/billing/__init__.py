"""Billing: payment requests paid through Stripe Checkout, and the Stripe settings."""
