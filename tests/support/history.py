"""A known history, written through the real commands at chosen dates, for the metrics tests.

Event timestamps come from the eventsourcing library's clock; `Clock` sets it (the
odd corner where patching is the honest tool: the library reads the time itself).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from eventsourcing import domain

from crm_core.context import acting_as, user_actor
from web.container import Container


class Clock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = datetime(2026, 1, 1, 10, tzinfo=UTC)
        monkeypatch.setattr(domain, "datetime_now_with_tzinfo", lambda: self.now)

    @contextmanager
    def at(self, when: datetime) -> Iterator[None]:
        self.now = when
        yield


def at(day: str, hour: int = 10) -> datetime:
    """'2026-03-05' at `hour`:00 UTC."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


class KnownHistory(dict[str, UUID]):
    """The ids of the records of `write_known_history`, by name."""


def write_known_history(
    container: Container, clock: Clock, workspace_id: UUID, users: dict[str, UUID]
) -> KnownHistory:
    """March 2026 as the period of interest; figures hand-computed in the tests.

    u1 owns client A and opportunities 1, 2, 5; u2 owns client B and 3, 4.
    - opp1 (1 000 €, u1): opened 20 Feb, won 5 Mar.
    - opp2 (2 000 €, u1): opened 2 Mar, lost 10 Mar.
    - opp3 (3 000 €, u2): opened 3 Mar, qualification 4 Mar, won 20 Mar.
    - opp4 (500 €, u2): opened 15 Mar in proposition, close date 25 Mar, untouched.
    - opp5 (700 €, u1): opened 10 Jan, won 20 Jan, reopened 6 Mar (négociation).
    - tickets: t1 (A, staff, assigned u1) 1 Mar 10:00 -> résolu 16:00 (6 h);
      t2 (B, portail) 5 Mar 10:00 -> résolu 7 Mar 10:00 (48 h);
      t3 (A, staff) 27 Feb 10:00 -> fermé 2 Mar 10:00 (72 h).
    - calls: u1 two in March and one in February, u2 one in March (and a note).
    - client C (no owner) archived.
    """
    sales, support = container.sales, container.support
    u1, u2 = users["u1"], users["u2"]
    ids = KnownHistory()
    with acting_as(user_actor(u1)):
        with clock.at(at("2026-01-05")):
            ids["A"] = sales.register_client(workspace_id, nom="Client A", owner_id=u1).id
            ids["B"] = sales.register_client(workspace_id, nom="Client B", owner_id=u2).id
            ids["C"] = sales.register_client(workspace_id, nom="Client C").id
        with clock.at(at("2026-01-06")):
            sales.archive_client(workspace_id, ids["C"])
        with clock.at(at("2026-01-10")):
            ids["opp5"] = sales.open_opportunity(
                workspace_id, ids["A"], titre="Opp 5", montant_estime="700", owner_id=u1
            ).id
        with clock.at(at("2026-01-20")):
            sales.move_opportunity(workspace_id, ids["opp5"], "gagne")
        with clock.at(at("2026-02-20")):
            ids["opp1"] = sales.open_opportunity(
                workspace_id, ids["A"], titre="Opp 1", montant_estime="1000", owner_id=u1
            ).id
        with clock.at(at("2026-02-27")):
            ids["t3"] = support.open_ticket(
                workspace_id, ids["A"], sujet="T3", description="Trois"
            ).id
        with clock.at(at("2026-03-01")):
            ids["t1"] = support.open_ticket(workspace_id, ids["A"], sujet="T1", description="Un").id
            support.assign(workspace_id, ids["t1"], u1)
        with clock.at(at("2026-03-01", 16)):
            support.change_status(workspace_id, ids["t1"], "resolu")
        with clock.at(at("2026-03-02")):
            support.change_status(workspace_id, ids["t3"], "ferme")
            ids["opp2"] = sales.open_opportunity(
                workspace_id, ids["A"], titre="Opp 2", montant_estime="2000", owner_id=u1
            ).id
        with clock.at(at("2026-03-03")):
            ids["opp3"] = sales.open_opportunity(
                workspace_id, ids["B"], titre="Opp 3", montant_estime="3000", owner_id=u2
            ).id
        with clock.at(at("2026-03-04")):
            sales.move_opportunity(workspace_id, ids["opp3"], "qualification")
        with clock.at(at("2026-03-05")):
            sales.move_opportunity(workspace_id, ids["opp1"], "gagne")
        with clock.at(at("2026-03-05")):
            ids["t2"] = support.open_ticket(
                workspace_id,
                ids["B"],
                sujet="T2",
                description="Deux",
                source="portail",
                ouvert_par="portal:" + str(ids["B"]),
            ).id
        with clock.at(at("2026-03-06")):
            sales.reopen_opportunity(workspace_id, ids["opp5"], "negociation")
        with clock.at(at("2026-03-07")):
            support.change_status(workspace_id, ids["t2"], "resolu")
        with clock.at(at("2026-03-10")):
            sales.move_opportunity(workspace_id, ids["opp2"], "perdu", raison="Budget")
        with clock.at(at("2026-03-15")):
            ids["opp4"] = sales.open_opportunity(
                workspace_id,
                ids["B"],
                titre="Opp 4",
                montant_estime="500",
                owner_id=u2,
                etape="proposition",
                date_cloture_prevue=datetime(2026, 3, 25, tzinfo=UTC).date(),
            ).id
        with clock.at(at("2026-03-20")):
            sales.move_opportunity(workspace_id, ids["opp3"], "gagne")
        for author, day, kind in (
            (u1, "2026-03-02", "appel"),
            (u1, "2026-03-12", "appel"),
            (u1, "2026-02-12", "appel"),
            (u2, "2026-03-13", "appel"),
            (u2, "2026-03-14", "note"),
        ):
            sales.log_activity(
                workspace_id,
                ids["A"] if author == u1 else ids["B"],
                kind=kind,
                sujet=f"{kind} {uuid4().hex[:4]}",
                date_activite=at(day),
                auteur_id=author,
            )
    last = container.log.recorder.max_notification_id() or 0
    container.wait(last, "analytics", "clients", "accounts")
    return ids
