"""What the JSON API's controllers share: lists, pages, field names, French 4xx."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, Generic, TypeVar

import msgspec
import psycopg
from eventsourcing.persistence import DataError as PersistenceDataError
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    ClientException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from crm_core.errors import InvalidInputError, NotFoundError
from crm_core.values import (
    ActivityKind,
    ClientType,
    Stage,
    TicketPriority,
    TicketSource,
    TicketStatus,
    TicketType,
)
from projections.pagination import (
    InvalidCursorError,
    Page,
    clamp_limit,
    decode_cursor,
    encode_cursor,
)
from web.container import Container
from web.problems import PROBLEM_JSON, Problem, http_error_handler, problem_response

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_LIMIT = 25
MAX_LIMIT = 200
MAX_QUERY_TEXT = 200

Limite = Annotated[
    int,
    Parameter(
        ge=1,
        le=MAX_LIMIT,
        description=f"Nombre d’éléments par page (1 à {MAX_LIMIT}).",
    ),
]
Curseur = Annotated[
    str | None,
    Parameter(
        description="Curseur opaque : la valeur `curseurSuivant` de la page précédente.",
        max_length=1000,
    ),
]


class Liste(msgspec.Struct, Generic[T], rename="camel"):
    """A page of a list: its items, the cursor of the next page (null at the end), the total."""

    items: list[T]
    curseur_suivant: str | None
    total: int


def liste(page: Page[R], convert: Callable[[R], T]) -> Liste[T]:
    return Liste([convert(item) for item in page.items], page.next_cursor, page.total)


def paginate(
    items: Sequence[T], key: Callable[[T], str], cursor: str | None, limit: int
) -> Liste[T]:
    """Keyset pages over a short list held in memory (contacts, messages, users)."""
    ordered = sorted(items, key=key)
    after = decode_cursor(cursor, 1)
    remaining = [item for item in ordered if after is None or key(item) > after[0]]
    limit = clamp_limit(limit, MAX_LIMIT)
    page = remaining[:limit]
    next_cursor = encode_cursor(key(page[-1])) if len(remaining) > limit else None
    return Liste(page, next_cursor, len(ordered))


@contextmanager
def cursor_of_this_query(cursor: str | None) -> Iterator[None]:
    """A cursor that decodes but holds values of the wrong type is still a bad cursor."""
    try:
        yield
    except (psycopg.DataError, PersistenceDataError):
        if cursor:
            raise InvalidCursorError from None
        raise


_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def query_text(field: str, value: str | None) -> str:
    """A free-text query parameter, refused when PostgreSQL could not hold it."""
    text = (value or "").strip()
    if _UNPRINTABLE.search(text):
        raise InvalidInputError({field: UNPRINTABLE_TEXT})
    if len(text) > MAX_QUERY_TEXT:
        raise InvalidInputError(
            {field: f"La recherche ne doit pas dépasser {MAX_QUERY_TEXT} caractères."}
        )
    return text


UNPRINTABLE_TEXT = "Ce texte contient des caractères non autorisés."


def printable_body(data: msgspec.Struct, prefix: str = "") -> None:
    """Refuse a body whose text holds control characters or lone surrogates.

    PostgreSQL cannot store them: recorded in an event, such a text would stop
    the read models that apply it. (The domain also drops them; this answers
    the API caller with a field message first.)
    """
    errors: dict[str, str] = {}
    for field in msgspec.structs.fields(data):
        value = getattr(data, field.name)
        name = f"{prefix}{field.encode_name}"
        texts = value if isinstance(value, list) else [value]
        for text in texts:
            if isinstance(text, str) and _UNPRINTABLE.search(text):
                errors[name] = UNPRINTABLE_TEXT
            elif isinstance(text, msgspec.Struct):
                try:
                    printable_body(text, f"{name}.")
                except InvalidInputError as nested:
                    errors.update(nested.errors)
    if errors:
        raise InvalidInputError(errors)


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.capitalize() for part in rest)


@contextmanager
def api_fields(**renamed: str) -> Iterator[None]:
    """Name the fields of a domain error as the API does (camelCase, seed names)."""
    try:
        yield
    except InvalidInputError as error:
        raise InvalidInputError(
            {renamed.get(key, _camel(key)): message for key, message in error.errors.items()}
        ) from None


@contextmanager
def unknown_client() -> Iterator[None]:
    """A body naming a client this workspace does not have: a field error, not a 404."""
    try:
        yield
    except NotFoundError as error:
        raise InvalidInputError({"clientId": error.message}) from None


ADDRESS_FIELDS = {
    "rue": "adresse.rue",
    "code_postal": "adresse.codePostal",
    "ville": "adresse.ville",
    "pays": "adresse.pays",
}


def keep(value: T | msgspec.UnsetType, current: T) -> T:
    """A PATCH field: the new value when present, else the current one."""
    return current if isinstance(value, msgspec.UnsetType) else value


def forbid(message: str) -> PermissionDeniedException:
    return PermissionDeniedException(message)


def provide_container(request: Request[Any, Any, Any]) -> Container:
    container: Container = request.app.state.container
    return container


def container_from(connection: ASGIConnection[Any, Any, Any, Any]) -> Container:
    container: Container = connection.app.state.container
    return container


# --- French messages for what the decoder refuses (types, formats, enums) --------

_CHOICES: dict[str, tuple[str, ...]] = {
    "type": tuple(kind.value for kind in ClientType),
    "activite.type": tuple(kind.value for kind in ActivityKind),
    "tri": ("maj", "titre", "client", "montant", "etape", "cloture"),
    "ordre": ("asc", "desc"),
    "etapePipeline": tuple(stage.value for stage in Stage),
    "typeTicket": tuple(kind.value for kind in TicketType),
    "priorite": tuple(priority.value for priority in TicketPriority),
    "source": tuple(source.value for source in TicketSource),
    "statutTicket": tuple(status.value for status in TicketStatus),
}
_TYPES = {
    "str": "un texte",
    "int": "un nombre entier",
    "bool": "un booléen (true ou false)",
    "object": "un objet JSON",
    "array": "une liste",
    "null": "null",
    "float": "un nombre",
    "uuid": "un identifiant (UUID)",
    "decimal": "un nombre décimal",
    "date": "une date (AAAA-MM-JJ)",
    "datetime": "une date et heure (ISO 8601, avec fuseau horaire)",
}
_MESSAGES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        re.compile(r"Expected `(\w+)(?: \| null)?`, got `(\w+)`"),
        lambda m: f"Valeur attendue : {_TYPES.get(m[1], m[1])}.",
    ),
    (re.compile(r"Expected `(\w+)` >= (-?[\d.]+)"), lambda m: f"Doit être au moins {m[2]}."),
    (re.compile(r"Expected `(\w+)` <= (-?[\d.]+)"), lambda m: f"Doit être au plus {m[2]}."),
    (re.compile(r"Expected `str` of length <= (\d+)"), lambda m: f"{m[1]} caractères au plus."),
    (re.compile(r"Expected `array` of length <= (\d+)"), lambda m: f"{m[1]} éléments au plus."),
    (re.compile(r"Invalid UUID"), lambda _: "Identifiant invalide (UUID attendu)."),
    (re.compile(r"Invalid decimal"), lambda _: "Nombre invalide (exemple : 1500.00)."),
    (re.compile(r"Invalid RFC3339 encoded date$"), lambda _: "Date invalide (format AAAA-MM-JJ)."),
    (
        re.compile(r"Invalid RFC3339 encoded datetime"),
        lambda _: "Date et heure invalides (format ISO 8601, avec fuseau horaire).",
    ),
    (re.compile(r"Invalid enum value"), lambda _: "Valeur non reconnue."),
]
_FIELD_IN_MESSAGE = re.compile(r"(?:unknown|missing required) field `([^`]+)`")
_PATH_IN_MESSAGE = re.compile(r" - at `\$\.?([^`]*)`")


def french_message(key: str, message: str, *, activity: bool = False) -> str:
    if "unknown field" in message:
        return "Champ inconnu."
    if "missing required field" in message:
        return "Ce champ est obligatoire."
    choices = _CHOICES.get("activite.type" if activity and key == "type" else key)
    if "Invalid enum value" in message and choices:
        return f"Valeur non reconnue (valeurs possibles : {', '.join(choices)})."
    for pattern, build in _MESSAGES:
        match = pattern.search(message)
        if match:
            return build(match)
    return "Valeur invalide."


def _error_key(item: dict[str, Any]) -> str:
    message = str(item.get("message", ""))
    named = _FIELD_IN_MESSAGE.search(message)
    key = str(item.get("key") or "")
    path = _PATH_IN_MESSAGE.search(message)
    if named:
        parent = key if key and key != "data" else ""
        return f"{parent}.{named[1]}" if parent else named[1]
    if path and path[1]:
        return path[1]
    if key == "data" or not key:
        return "corps"
    # Query parameters are reported by their Python name; the API speaks camelCase.
    return _camel(key) if item.get("source") in ("query", "path") else key


def api_validation_error_handler(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[Any]:
    """Decoder refusals (types, formats, enums, unknown fields) as a 400 with French fields."""
    errors: dict[str, str] = {}
    activity = request.url.path.endswith("/activites")
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            key = _error_key(item)
            field = key.rsplit(".", 1)[-1]
            errors.setdefault(key, french_message(field, str(item["message"]), activity=activity))
    return problem_response(
        request, 400, "La requête est invalide : vérifiez les champs signalés.", errors
    )


def api_client_error_handler(
    request: Request[Any, Any, Any], exc: ClientException
) -> Response[Any]:
    """A body that is not JSON at all, and the other framework 4xx, in French."""
    detail = str(exc.detail)
    if exc.status_code == 400 and "JSON" in detail:
        return problem_response(
            request,
            400,
            "Le corps de la requête n’est pas un JSON valide.",
            {"corps": "JSON invalide."},
        )
    return http_error_handler(request, exc)


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem,
        description=description,
        media_type=PROBLEM_JSON,
        generate_examples=False,
    )


READ_ERRORS: dict[int, ResponseSpec] = {
    400: _problem("Paramètre ou curseur invalide"),
    401: _problem("Session absente ou expirée"),
    404: _problem("Introuvable dans cet espace de travail"),
}
WRITE_ERRORS: dict[int, ResponseSpec] = {
    **READ_ERRORS,
    403: _problem("Rôle insuffisant ou jeton CSRF absent"),
    409: _problem("Conflit : doublon ou modification concurrente"),
    422: _problem("Saisie refusée par une règle métier (messages par champ dans `errors`)"),
}
