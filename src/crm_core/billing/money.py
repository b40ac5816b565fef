"""Decimal amounts <-> integer minor units, as Stripe counts them.

Stripe takes amounts in the currency's smallest unit: cents for EUR, yen for
JPY (a zero-decimal currency). Converting through Decimal, never float, keeps
1 234,56 € exactly 123456.
"""

from __future__ import annotations

from decimal import Decimal

from crm_core.errors import PaymentError

# Stripe's zero-decimal currencies (https://docs.stripe.com/currencies#zero-decimal).
ZERO_DECIMAL = frozenset(
    {
        "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
        "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
    }
)  # fmt: skip


def _exponent(currency: str) -> int:
    return 0 if currency.upper() in ZERO_DECIMAL else 2


def to_minor_units(amount: Decimal, currency: str) -> int:
    """1500.00 EUR -> 150000; refuses an amount the currency cannot express."""
    scaled = amount.scaleb(_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise PaymentError(f"Le montant doit être un nombre entier en {currency.upper()}.")
    return int(scaled)


def from_minor_units(value: int, currency: str) -> Decimal:
    """150000 EUR -> Decimal('1500.00')."""
    exponent = _exponent(currency)
    return Decimal(value).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))
