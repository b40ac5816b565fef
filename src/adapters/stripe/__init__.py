"""Stripe: the PaymentGateway over the official SDK, incoming webhooks, reconciliation."""
