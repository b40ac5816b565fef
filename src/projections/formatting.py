"""French formatting of amounts and dates, shared by read models and screens."""

from __future__ import annotations

from decimal import Decimal

_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF"}
NARROW_NBSP = "\u202f"


def format_money(amount: Decimal | None, currency: str = "EUR") -> str:
    """1234.5 EUR -> '1 234,50 €' (narrow no-break space between thousands)."""
    if amount is None:
        return "—"
    sign = "-" if amount < 0 else ""
    whole, cents = f"{abs(amount):.2f}".split(".")
    groups: list[str] = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    symbol = _SYMBOLS.get(currency, currency)
    return f"{sign}{NARROW_NBSP.join(groups)},{cents}\u00a0{symbol}"
