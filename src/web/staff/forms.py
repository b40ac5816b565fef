"""Forms of the staff screens: submitted values, field messages, parsing, pagination links.

A form is re-rendered with status 422 and its `errors` (field -> French message,
the keys of `InvalidInputError.errors`) next to each field; the field names of
the HTML forms are those keys, so no mapping is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.params import Body

from crm_core.errors import DomainError, InvalidInputError
from projections.pagination import Page
from web.templating import PARIS

# A submitted HTML form: every field a string (parsed by the handler, so a bad value
# gets its French message next to the field instead of a 400).
FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
FIRST_PAGE = "0"  # the cursor of the first page in the trail of the "Précédent" links


class Form:
    """What the user typed (strings) and the messages to show beside the fields."""

    def __init__(
        self,
        values: Mapping[str, Any] | None = None,
        errors: Mapping[str, str] | None = None,
        *,
        prefix: str = "",
        error: str = "",
    ) -> None:
        self.values: dict[str, Any] = dict(values or {})
        self.errors: dict[str, str] = dict(errors or {})
        self.prefix = prefix
        self.error = error

    def get(self, name: str, default: str = "") -> str:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, list):
            return str(value[-1]) if value else default
        return str(value)

    def id(self, name: str) -> str:
        """The HTML id of a field (unique when a page holds several forms)."""
        return f"{self.prefix}{name}"

    @property
    def invalid(self) -> bool:
        return bool(self.errors or self.error)

    def fail(self, error: DomainError) -> Form:
        """This form with the messages of `error` (fields, or one message for the form)."""
        if isinstance(error, InvalidInputError):
            self.errors.update(error.errors)
        else:
            self.error = error.message
        return self


def text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name, "")
    if isinstance(value, list):
        value = value[-1] if value else ""
    return str(value or "")


class Parsed:
    """Collects the parse messages of one form (a number, a date, a choice of id)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.errors: dict[str, str] = {}

    def uuid(self, name: str, message: str = "Choix invalide.") -> UUID | None:
        raw = text(self.data, name).strip()
        if not raw:
            return None
        try:
            return UUID(raw)
        except ValueError:
            self.errors[name] = message
            return None

    def integer(self, name: str, label: str) -> int | None:
        raw = text(self.data, name).strip().replace(" ", "")
        if not raw:
            return None
        try:
            return int(raw)
        except ValueError:
            self.errors[name] = f"{label} doit être un nombre entier."
            return None

    def day(self, name: str) -> date | None:
        raw = text(self.data, name).strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.errors[name] = "Date invalide (format attendu : AAAA-MM-JJ)."
            return None

    def moment(self, name: str) -> datetime | None:
        """A `datetime-local` value, read as Paris time."""
        raw = text(self.data, name).strip()
        if not raw:
            self.errors[name] = "La date est obligatoire."
            return None
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            self.errors[name] = "Date invalide (format attendu : AAAA-MM-JJ HH:MM)."
            return None
        return value if value.tzinfo else value.replace(tzinfo=PARIS)

    def check(self) -> None:
        """Raise the parse messages, if any, like a command would."""
        if self.errors:
            raise InvalidInputError(self.errors)


def query(request: Request[Any, Any, Any], name: str, default: str = "") -> str:
    return str(request.query_params.get(name, default) or default)


class Pager:
    """Links "Précédent" / "Suivant" for a keyset page, keeping the other parameters.

    `curseur` is the page's cursor; `trace` the cursors of the pages before it,
    so "Précédent" works without JavaScript and without an offset.
    """

    def __init__(self, request: Request[Any, Any, Any], page: Page[Any], path: str) -> None:
        params = {
            key: value
            for key, value in request.query_params.items()
            if key not in ("curseur", "trace") and value
        }
        cursor = query(request, "curseur")
        trail = [item for item in query(request, "trace").split(",") if item]
        self.total = page.total
        self.number = len(trail) + 1
        self.next_url = (
            _url(
                path,
                {
                    **params,
                    "curseur": page.next_cursor,
                    "trace": ",".join([*trail, cursor or FIRST_PAGE]),
                },
            )
            if page.next_cursor
            else None
        )
        if trail:
            previous = trail[-1]
            back = {**params, "trace": ",".join(trail[:-1])}
            if previous != FIRST_PAGE:
                back["curseur"] = previous
            self.prev_url: str | None = _url(path, back)
        else:
            self.prev_url = None


def _url(path: str, params: Mapping[str, str]) -> str:
    kept = {key: value for key, value in params.items() if value}
    return f"{path}?{urlencode(kept)}" if kept else path


def url_with(path: str, params: Mapping[str, str], **changes: str) -> str:
    """`path` with the query `params` changed (empty values dropped)."""
    return _url(path, {**params, **changes})


def is_fragment(request: Request[Any, Any, Any]) -> bool:
    """An htmx request that wants a fragment (not a history restore, which wants the page)."""
    return (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-history-restore-request") != "true"
    )


def safe_next(url: str, default: str) -> str:
    return url if url.startswith("/") and not url.startswith("//") else default
