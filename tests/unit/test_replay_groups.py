"""How a rebuild of every read model is split between worker processes."""

from __future__ import annotations

from eventsourcing.utils import get_topic

from crm_core.sales.domainmodel import Client, Opportunity
from crm_core.support.domainmodel import Ticket
from projections.rebuild import plan_groups
from projections.registry import PROJECTIONS

PROJECTION_CLASSES = {name: classes[0] for name, classes in PROJECTIONS.items()}
COUNTS = {
    get_topic(Client.Registered): 1_000,
    get_topic(Client.Updated): 2_000,
    get_topic(Opportunity.StageChanged): 3_000,
    get_topic(Ticket.Replied): 3_000,
}


def test_one_process_replays_everything_together() -> None:
    assert plan_groups(PROJECTION_CLASSES, 1, COUNTS) == [sorted(PROJECTIONS)]


def test_the_read_models_that_never_decrypt_go_together() -> None:
    groups = plan_groups(PROJECTION_CLASSES, 2, COUNTS)

    assert groups[0] == ["analytics", "audit"]
    assert sorted(name for group in groups for name in group) == sorted(PROJECTIONS)
    assert len(groups) == 2


def test_more_processes_spread_the_busiest_read_models_apart() -> None:
    groups = plan_groups(PROJECTION_CLASSES, 4, COUNTS)

    assert len(groups) == 4
    assert groups[0] == ["analytics", "audit"]
    assert sorted(name for group in groups for name in group) == sorted(PROJECTIONS)
    # The busiest of the others (by events of their topics) are each in a group of
    # their own before the light ones are added.
    busiest = {"pipeline", "timeline", "tickets"}
    assert all(len(busiest & set(group)) <= 1 for group in groups)


def test_a_single_read_model_needs_one_process() -> None:
    only = {"clients": PROJECTION_CLASSES["clients"]}
    assert plan_groups(only, 4, COUNTS) == [["clients"]]
