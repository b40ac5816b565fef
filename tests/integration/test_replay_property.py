"""Property: whatever valid commands ran, replaying the log rebuilds the same read models."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_core.application import LOG_NAME
from crm_core.context import acting_as, user_actor
from crm_core.errors import DomainError
from projections.rebuild import Difference, ShadowReplay, replay_together
from projections.registry import PROJECTIONS
from tests.conftest import settings_for
from tests.support.readmodels import dump_tables, replay
from tests.support.services import create_database, drop_database
from web.container import Container, running_container
from web.views import build_view

# Any text a form could send, control characters and SQL/LIKE specials included.
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
usual_names = st.sampled_from(["Martin", "L’Atelier", "100 % _bio_", "O'Neil", "Zoé\n&\tfils"])
names = st.one_of(usual_names, usual_names, usual_names, texts)
emails = st.sampled_from(["", "", "a@exemple.fr", "A@Exemple.fr", "b@exemple.fr", "pas-un-email"])
amounts = st.one_of(
    st.decimals(min_value=-5, max_value=10**7, places=2, allow_nan=False),
    st.decimals(min_value=1, max_value=10**5, places=2, allow_nan=False),
    st.sampled_from(["0", "1 500,5", "12.345", "abc", None]),
)
stages = st.sampled_from(
    ["prospect", "qualification", "proposition", "negociation", "gagne", "perdu", "signee"]
)
statuses = st.sampled_from(["nouveau", "en_cours", "en_attente_client", "resolu", "ferme"])
index = st.integers(min_value=0, max_value=20)

registrations = st.tuples(
    st.just("register"),
    names,
    emails,
    st.lists(texts, max_size=3),
)
steps = st.one_of(
    registrations,
    st.tuples(
        st.just("update"), index, names, emails, st.sampled_from(["entreprise", "particulier"])
    ),
    # Archived for good now and then; usually restored at once (both events recorded).
    st.tuples(st.just("archive"), index, st.sampled_from([False, False, False, True])),
    st.tuples(st.just("contact"), index, names),
    st.tuples(
        st.just("open_deal"),
        index,
        names,
        amounts,
        st.sampled_from(["prospect", "prospect", "negociation", "gagne"]),
    ),
    st.tuples(st.just("revise_deal"), index, names, amounts),
    st.tuples(st.just("move"), index, stages, texts),
    st.tuples(st.just("reopen"), index, stages),
    st.tuples(
        st.just("activity"),
        index,
        st.sampled_from(["note", "appel", "reunion"]),
        names,
        st.integers(min_value=-5, max_value=600),
    ),
    st.tuples(st.just("ticket"), index, names, texts),
    st.tuples(st.just("reply"), index, texts, st.booleans()),
    st.tuples(st.just("status"), index, statuses),
    st.tuples(st.just("assign"), index, st.booleans()),
)


class Scenario:
    def __init__(self, container: Container, workspace: UUID, user: UUID) -> None:
        self.sales, self.support = container.sales, container.support
        self.ws, self.user = workspace, user
        self.clients: list[UUID] = []
        self.deals: list[UUID] = []
        self.tickets: list[UUID] = []

    @staticmethod
    def pick(ids: list[UUID], number: int) -> UUID | None:
        return ids[number % len(ids)] if ids else None

    def run(self, step: tuple[Any, ...]) -> None:  # noqa: PLR0912
        kind, *args = step
        sales, support, ws = self.sales, self.support, self.ws
        client = self.pick(self.clients, args[0]) if isinstance(args[0], int) else None
        deal = self.pick(self.deals, args[0]) if isinstance(args[0], int) else None
        ticket = self.pick(self.tickets, args[0]) if isinstance(args[0], int) else None
        if kind == "register":
            self.clients.append(
                sales.register_client(ws, nom=args[0], email=args[1], tags=tuple(args[2])).id
            )
        elif kind == "update" and client:
            sales.update_client(ws, client, nom=args[1], email=args[2], type_client=args[3])
        elif kind == "archive" and client:
            sales.archive_client(ws, client)
            if not args[1]:
                sales.restore_client(ws, client)
        elif kind == "contact" and client:
            sales.add_contact(ws, client, nom=args[1])
        elif kind == "open_deal" and client:
            self.deals.append(
                sales.open_opportunity(
                    ws, client, titre=args[1], montant_estime=args[2], etape=args[3]
                ).id
            )
        elif kind == "revise_deal" and deal:
            sales.update_opportunity(ws, deal, titre=args[1], montant_estime=args[2])
        elif kind == "move" and deal:
            sales.move_opportunity(ws, deal, args[1], raison=args[2])
        elif kind == "reopen" and deal:
            sales.reopen_opportunity(ws, deal, args[1])
        elif kind == "activity" and client:
            sales.log_activity(
                ws,
                client,
                kind=args[1],
                sujet=args[2],
                duree_minutes=args[3] or None,
                date_activite=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=args[3]),
            )
        elif kind == "ticket" and client:
            self.tickets.append(
                support.open_ticket(ws, client, sujet=args[1], description=args[2]).id
            )
        elif kind == "reply" and ticket:
            write = support.add_internal_note if args[2] else support.reply
            write(ws, ticket, texte=args[1], auteur=user_actor(self.user))
        elif kind == "status" and ticket:
            support.change_status(ws, ticket, args[1])
        elif kind == "assign" and ticket:
            support.assign(ws, ticket, self.user if args[1] else None)


@pytest.fixture(scope="module")
def databases(
    pg_admin: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Container, Container]]:
    """The live CRM (with runners), and a second database where the log is replayed."""
    live_db, replay_db = create_database(pg_admin), create_database(pg_admin)
    data = tmp_path_factory.mktemp("replay")
    try:
        with (
            running_container(settings_for(live_db, data), projections=True) as live,
            running_container(settings_for(replay_db, data), projections=False) as replayed,
        ):
            yield live, replayed
    finally:
        drop_database(pg_admin, live_db)
        drop_database(pg_admin, replay_db)


_SUMMARIES = {
    # The board's stage totals, the client tags and counts (migration 0740), as kept
    # by the projections event by event, and as counted from the rows themselves.
    "totals": (
        "SELECT workspace_id, etape, owner_key, nombre, total FROM rm_pipeline_totals"
        " WHERE nombre <> 0 OR total <> 0",
        "SELECT workspace_id, etape,"
        " COALESCE(owner_id, '00000000-0000-0000-0000-000000000000'::uuid),"
        " count(*), COALESCE(sum(montant_estime), 0) FROM rm_opportunities GROUP BY 1, 2, 3",
    ),
    "tags": (
        "SELECT workspace_id, tag, nombre FROM rm_client_tags WHERE nombre <> 0",
        "SELECT workspace_id, t.tag, count(DISTINCT id) FROM rm_clients,"
        " unnest(tags) AS t(tag) GROUP BY 1, 2",
    ),
    "counts": (
        "SELECT workspace_id, archived, nombre FROM rm_client_counts WHERE nombre <> 0",
        "SELECT workspace_id, archived, count(*) FROM rm_clients GROUP BY 1, 2",
    ),
}


def kept_summaries(conninfo: str) -> dict[str, set[tuple[Any, ...]]]:
    with psycopg.connect(conninfo) as conn:
        return {name: set(conn.execute(kept).fetchall()) for name, (kept, _) in _SUMMARIES.items()}


def counted_summaries(conninfo: str) -> dict[str, set[tuple[Any, ...]]]:
    with psycopg.connect(conninfo) as conn:
        return {
            name: set(conn.execute(counted).fetchall()) for name, (_, counted) in _SUMMARIES.items()
        }


@settings(
    max_examples=15,
    deadline=None,
    # Fixed examples: CI must not fail on a sequence no one can replay; explore locally
    # by removing this line.
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(registrations, min_size=1, max_size=4),
    st.lists(steps, min_size=10, max_size=60),
)
def test_replaying_the_log_gives_the_live_read_models(
    databases: tuple[Container, Container],
    first: list[tuple[Any, ...]],
    then: list[tuple[Any, ...]],
) -> None:
    live, replayed = databases
    with acting_as("system"):
        workspace = live.accounts.create_workspace(nom="Propriété").id
        user = live.accounts.register_user(
            workspace,
            email=f"u-{workspace}@exemple.fr",
            nom="Léa",
            role="admin",
            password="un mot de passe solide",
        ).id
    scenario = Scenario(live, workspace, user)
    with acting_as(user_actor(user)):
        for command in first + then:
            try:
                scenario.run(command)
            except DomainError:
                continue  # a rule refused it: nothing was recorded

    last = live.log.recorder.max_notification_id() or 0
    live.wait(last, *PROJECTIONS, timeout=10)
    replay(live.log, replayed.views)

    assert dump_tables(replayed.conninfo) == dump_tables(live.conninfo)
    assert kept_summaries(live.conninfo) == counted_summaries(live.conninfo)
    assert {name: view.position(LOG_NAME) for name, view in replayed.views.items()} == {
        name: view.position(LOG_NAME) for name, view in live.views.items()
    }
    # And the way a rebuild replays (shadow tables, rows by COPY, aggregates' rows
    # held in memory with their updates): the same rows as the live runners wrote.
    assert _shadow_differences(live, last) == {}


def _shadow_differences(live: Container, last: int) -> dict[str, list[Difference]]:
    replays = [
        ShadowReplay(
            conninfo=live.conninfo,
            log=live.log,
            name=name,
            projection_class=PROJECTIONS[name][0],
            view=build_view(live.env, name),
        )
        for name in sorted(PROJECTIONS)
    ]
    try:
        for shadow in replays:
            shadow.prepare()
        replay_together(replays, last)
        found = {shadow.name: shadow.compare() for shadow in replays}
    finally:
        for shadow in replays:
            shadow.drop()
            shadow.close()
            shadow.view.datastore.close()
    return {name: differences for name, differences in found.items() if differences}
