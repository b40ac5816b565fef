"""The client list (search, filters, pages) and the client detail."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, LiteralString
from uuid import UUID

import msgspec
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from psycopg.types.json import Jsonb

from crm_core.sales.domainmodel import Client
from projections.pagination import Page, clamp_limit, decode_cursor, encode_cursor, like_pattern
from projections.readmodel import KeptSums, ReadModel, jsonb, topics_of


class ContactRow(msgspec.Struct, frozen=True):
    id: UUID
    nom: str
    email: str
    telephone: str
    fonction: str


class ClientRow(msgspec.Struct, frozen=True):
    id: UUID
    workspace_id: UUID
    nom: str
    type_client: str
    email: str
    telephone: str
    ville: str
    tags: list[str]
    owner_id: UUID | None
    archived: bool
    created_at: datetime
    updated_at: datetime


class ClientDetail(msgspec.Struct, frozen=True):
    id: UUID
    workspace_id: UUID
    nom: str
    type_client: str
    email: str
    telephone: str
    adresse: dict[str, str]
    tags: list[str]
    owner_id: UUID | None
    notes: str
    archived: bool
    contacts: list[ContactRow]
    created_at: datetime
    updated_at: datetime


_LIST_COLUMNS = (
    "id, workspace_id, nom, type_client, email, telephone, ville, tags, owner_id, archived,"
    " created_at, updated_at"
)


# The client list's summaries (migration 0740): clients per workspace and archived
# flag, and per tag (DISTINCT: a tag twice in one client's list counts once).
_TAG_SUMS = KeptSums(
    "rm_client_tags",
    keys=("workspace_id", "tag"),
    sums=("nombre",),
    recompute=(
        "INSERT INTO rm_client_tags (workspace_id, tag, nombre)"
        " SELECT c.workspace_id, x.tag, count(DISTINCT c.id) FROM rm_clients c,"
        " unnest(c.tags) AS x(tag) GROUP BY 1, 2",
    ),
)
_COUNT_SUMS = KeptSums(
    "rm_client_counts",
    keys=("workspace_id", "archived"),
    sums=("nombre",),
    recompute=(
        "INSERT INTO rm_client_counts (workspace_id, archived, nombre)"
        " SELECT workspace_id, archived, count(*) FROM rm_clients GROUP BY 1, 2",
    ),
)

# A change of a row whose old state the event does not carry: its tags and count leave
# before the UPDATE or DELETE and come back after, in the same transaction, with SQL.
_TAGS_SUBTRACT = (
    "INSERT INTO rm_client_tags AS t (workspace_id, tag, nombre)"
    " SELECT DISTINCT c.workspace_id, x.tag, -1 FROM rm_clients c,"
    " unnest(c.tags) AS x(tag) WHERE c.id = %s"
    " ON CONFLICT (workspace_id, tag) DO UPDATE SET nombre = t.nombre + EXCLUDED.nombre"
)
_TAGS_ADD = (
    "INSERT INTO rm_client_tags AS t (workspace_id, tag, nombre)"
    " SELECT DISTINCT c.workspace_id, x.tag, 1 FROM rm_clients c,"
    " unnest(c.tags) AS x(tag) WHERE c.id = %s"
    " ON CONFLICT (workspace_id, tag) DO UPDATE SET nombre = t.nombre + EXCLUDED.nombre"
)
_COUNT_SUBTRACT = (
    "INSERT INTO rm_client_counts AS t (workspace_id, archived, nombre)"
    " SELECT workspace_id, archived, -1 FROM rm_clients WHERE id = %s"
    " ON CONFLICT (workspace_id, archived) DO UPDATE SET nombre = t.nombre + EXCLUDED.nombre"
)
_COUNT_ADD = (
    "INSERT INTO rm_client_counts AS t (workspace_id, archived, nombre)"
    " SELECT workspace_id, archived, 1 FROM rm_clients WHERE id = %s"
    " ON CONFLICT (workspace_id, archived) DO UPDATE SET nombre = t.nombre + EXCLUDED.nombre"
)
_UPDATE = (
    "UPDATE rm_clients SET nom=%s, type_client=%s, email=%s, telephone=%s, adresse=%s,"
    " ville=%s, tags=%s, owner_id=%s, notes=%s, updated_at=%s, search_text=%s WHERE id=%s"
)
# The columns `_UPDATE` sets, in the order of its parameters.
_UPDATED_COLUMNS = (
    "nom",
    "type_client",
    "email",
    "telephone",
    "adresse",
    "ville",
    "tags",
    "owner_id",
    "notes",
    "updated_at",
    "search_text",
)
_ARCHIVED = "UPDATE rm_clients SET archived=%s, updated_at=%s WHERE id=%s"
# A contact the client did not have (its id is new): appended, no search of the list.
_CONTACT_ADDED = (
    "UPDATE rm_clients SET updated_at = %s, contacts = contacts || jsonb_build_array(%s::jsonb)"
    " WHERE id = %s"
)


def _updated(row: dict[str, Any], p: tuple[Any, ...]) -> None:
    row.update(zip(_UPDATED_COLUMNS, p[:-1], strict=True))


def _contact_added(row: dict[str, Any], p: tuple[Any, ...]) -> None:
    """`_CONTACT_ADDED` on a row a replay holds (contacts: a Jsonb of a list)."""
    row.update(updated_at=p[0], contacts=jsonb([*row["contacts"].obj, p[1].obj]))


def _search_text(nom: str, email: str) -> str:
    return f"{nom} {email}".lower()


def _contacts_json(client_contacts: Any) -> Jsonb:
    return jsonb(list(client_contacts))


class ClientsView(ReadModel):
    tables: ClassVar[tuple[str, ...]] = ("rm_clients", "rm_client_tags", "rm_client_counts")
    kept_sums: ClassVar[tuple[KeptSums, ...]] = (_TAG_SUMS, _COUNT_SUMS)
    replay_forms: ClassVar[dict[str, LiteralString | None]] = dict.fromkeys(
        (_TAGS_SUBTRACT, _TAGS_ADD, _COUNT_SUBTRACT, _COUNT_ADD)
    )
    # A replay applies these to the rows it holds (see `ReadModel.flush_replay`).
    replay_updates: ClassVar[dict[str, Any]] = {
        _UPDATE: _updated,
        _ARCHIVED: lambda row, p: row.update(archived=p[0], updated_at=p[1]),
        _CONTACT_ADDED: _contact_added,
    }
    replay_defaults: ClassVar[dict[str, dict[str, Any]]] = {"rm_clients": {"contacts": jsonb([])}}

    # --- writes -----------------------------------------------------------------
    def register(self, event: Client.Registered, tracking: Tracking) -> None:
        self.write(
            tracking,
            (
                "INSERT INTO rm_clients (id, workspace_id, nom, type_client, email, telephone,"
                " adresse, ville, tags, owner_id, notes, created_at, updated_at, search_text)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    event.originator_id,
                    event.workspace_id,
                    event.nom,
                    event.type_client.value,
                    event.email,
                    event.telephone,
                    jsonb(event.adresse),
                    event.adresse.ville,
                    list(event.tags),
                    event.owner_id,
                    event.notes,
                    event.timestamp,
                    event.timestamp,
                    _search_text(event.nom, event.email),
                ),
            ),
            *self.add_to_sums(_COUNT_SUMS, (event.workspace_id, False), (1,)),
            *(
                statement
                for tag in dict.fromkeys(event.tags)
                for statement in self.add_to_sums(_TAG_SUMS, (event.workspace_id, tag), (1,))
            ),
        )

    def update(self, event: Client.Updated, tracking: Tracking) -> None:
        self.write(
            tracking,
            (_TAGS_SUBTRACT, (event.originator_id,)),
            (
                _UPDATE,
                (
                    event.nom,
                    event.type_client.value,
                    event.email,
                    event.telephone,
                    jsonb(event.adresse),
                    event.adresse.ville,
                    list(event.tags),
                    event.owner_id,
                    event.notes,
                    event.timestamp,
                    _search_text(event.nom, event.email),
                    event.originator_id,
                ),
            ),
            (_TAGS_ADD, (event.originator_id,)),
        )

    def set_archived(
        self, client_id: UUID, archived: bool, at: datetime, tracking: Tracking
    ) -> None:
        self.write(
            tracking,
            (_COUNT_SUBTRACT, (client_id,)),
            (_ARCHIVED, (archived, at, client_id)),
            (_COUNT_ADD, (client_id,)),
        )

    def add_contact(self, client_id: UUID, contact: Any, at: datetime, tracking: Tracking) -> None:
        self.write(tracking, (_CONTACT_ADDED, (at, jsonb(contact), client_id)))

    def upsert_contact(
        self, client_id: UUID, contact: Any, at: datetime, tracking: Tracking
    ) -> None:
        entry = jsonb(contact)
        self.write(
            tracking,
            (
                "UPDATE rm_clients SET updated_at=%s, contacts = COALESCE(("
                "  SELECT jsonb_agg(CASE WHEN c->>'id' = %s THEN %s::jsonb ELSE c END)"
                "  FROM jsonb_array_elements(contacts) c), '[]'::jsonb)"
                " || CASE WHEN contacts @> jsonb_build_array(jsonb_build_object('id', %s::text))"
                "    THEN '[]'::jsonb ELSE jsonb_build_array(%s::jsonb) END"
                " WHERE id=%s",
                (at, str(contact.id), entry, str(contact.id), entry, client_id),
            ),
        )

    def remove_contact(
        self, client_id: UUID, contact_id: UUID, at: datetime, tracking: Tracking
    ) -> None:
        self.write(
            tracking,
            (
                "UPDATE rm_clients SET updated_at=%s, contacts = COALESCE(("
                "  SELECT jsonb_agg(c) FROM jsonb_array_elements(contacts) c"
                "  WHERE c->>'id' <> %s), '[]'::jsonb) WHERE id=%s",
                (at, str(contact_id), client_id),
            ),
        )

    def forget(self, client_id: UUID, tracking: Tracking) -> None:
        """RGPD erasure: the client's row (name, contacts, notes) goes."""
        self.write(
            tracking,
            (_TAGS_SUBTRACT, (client_id,)),
            (_COUNT_SUBTRACT, (client_id,)),
            ("DELETE FROM rm_clients WHERE id = %s", (client_id,)),
        )

    # --- queries ----------------------------------------------------------------
    def search(
        self,
        workspace_id: UUID,
        *,
        q: str = "",
        tag: str = "",
        owner_id: UUID | None = None,
        archived: bool = False,
        limit: int = 25,
        cursor: str | None = None,
    ) -> Page[ClientRow]:
        """Clients ordered by name, filtered; `cursor` continues after the last page."""
        limit = clamp_limit(limit)
        where = ["workspace_id = %(ws)s", "archived = %(archived)s"]
        params: dict[str, Any] = {"ws": workspace_id, "archived": archived, "limit": limit + 1}
        if q.strip():
            where.append("search_text LIKE %(q)s")
            params["q"] = like_pattern(q)
        if tag.strip():
            where.append("tags @> ARRAY[%(tag)s]::text[]")
            params["tag"] = tag.strip().lower()
        if owner_id is not None:
            where.append("owner_id = %(owner)s")
            params["owner"] = owner_id
        filters = " AND ".join(where)
        if len(where) == 2:  # no filter but the archived flag: the kept count (0740)
            total_row = self.fetch_one(
                "SELECT nombre AS n FROM rm_client_counts"
                " WHERE workspace_id = %(ws)s AND archived = %(archived)s",
                params,
            )
        else:
            total_row = self.fetch_one(
                f"SELECT count(*) AS n FROM rm_clients WHERE {filters}",  # type: ignore[arg-type]
                params,
            )
        after = decode_cursor(cursor, 2)
        if after is not None:
            where.append("(lower(nom), id) > (%(after_nom)s, %(after_id)s::uuid)")
            params["after_nom"], params["after_id"] = after
        rows = self.fetch_all(
            f"SELECT {_LIST_COLUMNS} FROM rm_clients WHERE {' AND '.join(where)}"  # type: ignore[arg-type]
            " ORDER BY lower(nom), id LIMIT %(limit)s",
            params,
        )
        items = [msgspec.convert(row, ClientRow) for row in rows[:limit]]
        next_cursor = (
            encode_cursor(items[-1].nom.lower(), items[-1].id) if len(rows) > limit else None
        )
        return Page(items=items, next_cursor=next_cursor, total=total_row["n"] if total_row else 0)

    def get(self, workspace_id: UUID, client_id: UUID) -> ClientDetail | None:
        row = self.fetch_one(
            "SELECT id, workspace_id, nom, type_client, email, telephone, adresse, tags,"
            " owner_id, notes, archived, contacts, created_at, updated_at"
            " FROM rm_clients WHERE id = %s AND workspace_id = %s",
            (client_id, workspace_id),
        )
        return msgspec.convert(row, ClientDetail) if row else None

    def names(self, workspace_id: UUID, client_ids: list[UUID]) -> dict[UUID, str]:
        rows = self.fetch_all(
            "SELECT id, nom FROM rm_clients WHERE workspace_id = %s AND id = ANY(%s)",
            (workspace_id, client_ids),
        )
        return {row["id"]: row["nom"] for row in rows}

    def tags(self, workspace_id: UUID) -> list[str]:
        """The workspace's tags in use (archived clients included), from rm_client_tags."""
        rows = self.fetch_all(
            "SELECT tag FROM rm_client_tags WHERE workspace_id = %s AND nombre > 0 ORDER BY tag",
            (workspace_id,),
        )
        return [row["tag"] for row in rows]


class ClientsProjection(Projection[ClientsView]):
    name = "clients"
    topics = topics_of(
        Client.Registered,
        Client.Updated,
        Client.Archived,
        Client.Restored,
        Client.ContactAdded,
        Client.ContactUpdated,
        Client.ContactRemoved,
        Client.Erased,
    )

    @singledispatchmethod
    def process_event(self, event: Any, tracking: Tracking) -> None:
        self.view.track(tracking)

    @process_event.register
    def _(self, event: Client.Registered, tracking: Tracking) -> None:
        self.view.register(event, tracking)

    @process_event.register
    def _(self, event: Client.Updated, tracking: Tracking) -> None:
        self.view.update(event, tracking)

    @process_event.register
    def _(self, event: Client.Archived, tracking: Tracking) -> None:
        self.view.set_archived(event.originator_id, True, event.timestamp, tracking)

    @process_event.register
    def _(self, event: Client.Restored, tracking: Tracking) -> None:
        self.view.set_archived(event.originator_id, False, event.timestamp, tracking)

    @process_event.register
    def _(self, event: Client.ContactAdded, tracking: Tracking) -> None:
        self.view.add_contact(event.originator_id, event.contact, event.timestamp, tracking)

    @process_event.register
    def _(self, event: Client.ContactUpdated, tracking: Tracking) -> None:
        self.view.upsert_contact(event.originator_id, event.contact, event.timestamp, tracking)

    @process_event.register
    def _(self, event: Client.ContactRemoved, tracking: Tracking) -> None:
        self.view.remove_contact(event.originator_id, event.contact_id, event.timestamp, tracking)

    @process_event.register
    def _(self, event: Client.Erased, tracking: Tracking) -> None:
        self.view.forget(event.originator_id, tracking)
