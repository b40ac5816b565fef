"""Input checks shared by the aggregates: each collects French field messages.

A command normalises and checks all its fields first and raises one
InvalidInputError naming every bad field, so a form can show each message
next to its field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import TracebackType
from typing import Self, TypeVar

from crm_core.errors import InvalidInputError

_EMAIL_PART = r"[^@\s<>\"',;\x00-\x1f\x7f\ud800-\udfff]"
_EMAIL = re.compile(rf"^{_EMAIL_PART}+@{_EMAIL_PART}+\.{_EMAIL_PART}{{2,}}$")
_PHONE = re.compile(r"^\+?[0-9 ().\-]{6,25}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# Invisible control characters (tab and line breaks excepted) and lone surrogates:
# PostgreSQL text and jsonb cannot hold NUL, and a surrogate cannot be encoded, so
# an event carrying one could never be applied by a read model. Dropped on input.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
MAX_AMOUNT = Decimal("1000000000")
E = TypeVar("E", bound=StrEnum)


def printable(value: str) -> str:
    """The text without invisible control characters (tab and line breaks kept)."""
    return _UNPRINTABLE.sub("", value)


class FieldErrors:
    """Collects field messages; raises them all at once when the block ends."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and self.errors:
            raise InvalidInputError(self.errors)

    def text(
        self,
        field: str,
        value: str | None,
        *,
        label: str,
        required: bool = False,
        max_length: int = 200,
    ) -> str:
        raw = printable(value or "")
        cleaned = " ".join(raw.split()) if max_length <= 500 else raw.strip()
        if required and not cleaned:
            self.add(field, f"{label} est obligatoire.")
        elif len(cleaned) > max_length:
            self.add(field, f"{label} ne doit pas dépasser {max_length} caractères.")
        return cleaned

    def email(self, field: str, value: str | None, *, required: bool = False) -> str:
        cleaned = (value or "").strip().lower()
        if not cleaned:
            if required:
                self.add(field, "L’adresse email est obligatoire.")
        elif len(cleaned) > 254 or not _EMAIL.match(cleaned):
            self.add(field, "Adresse email invalide (exemple : nom@domaine.fr).")
        return cleaned

    def phone(self, field: str, value: str | None) -> str:
        cleaned = (value or "").strip()
        if cleaned and not _PHONE.match(cleaned):
            self.add(field, "Numéro de téléphone invalide (exemple : 06 12 34 56 78).")
        return cleaned

    def amount(self, field: str, value: Decimal | str | None, *, label: str) -> Decimal | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            amount = Decimal(str(value).replace(" ", "").replace("\u202f", "").replace(",", "."))
        except InvalidOperation:
            self.add(field, f"{label} doit être un nombre (exemple : 1500,00).")
            return None
        if not amount.is_finite():
            self.add(field, f"{label} doit être un nombre (exemple : 1500,00).")
            return None
        if amount < 0:
            self.add(field, f"{label} ne peut pas être négatif.")
            return None
        if amount >= MAX_AMOUNT:
            self.add(field, f"{label} est trop élevé.")
            return None
        if amount.as_tuple().exponent < -2:  # type: ignore[operator]
            self.add(field, f"{label} ne peut pas avoir plus de deux décimales.")
            return None
        return amount.quantize(Decimal("0.01"))

    def currency(self, field: str, value: str | None) -> str:
        cleaned = (value or "EUR").strip().upper()
        if not _CURRENCY.match(cleaned):
            self.add(field, "Devise invalide : code ISO à trois lettres (EUR, USD, CHF…).")
        return cleaned

    def percentage(self, field: str, value: int | None, *, label: str) -> int | None:
        if value is not None and not 0 <= value <= 100:
            self.add(field, f"{label} doit être comprise entre 0 et 100.")
        return value

    def choice(self, field: str, value: object, choices: type[E], *, label: str) -> E:
        try:
            return choices(str(value))
        except ValueError:
            allowed = ", ".join(member.value for member in choices)
            self.add(field, f"{label} invalide (valeurs possibles : {allowed}).")
            return next(iter(choices))

    def tags(self, field: str, values: Iterable[str]) -> tuple[str, ...]:
        cleaned: list[str] = []
        for raw in values:
            tag = " ".join(printable(raw).split()).lower()
            if not tag or tag in cleaned:
                continue
            if len(tag) > 40:
                self.add(field, "Une étiquette ne doit pas dépasser 40 caractères.")
            cleaned.append(tag)
        if len(cleaned) > 20:
            self.add(field, "Vingt étiquettes au plus.")
        return tuple(cleaned)

    def past_or_any_date(self, field: str, value: date | None) -> date | None:
        if value is not None and not date(1900, 1, 1) <= value <= date(2200, 1, 1):
            self.add(field, "Date invalide.")
        return value
