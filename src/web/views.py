"""Read models to query, built from the persistence settings (no runner)."""

from __future__ import annotations

from typing import Any, cast

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from projections.readmodel import ReadModel
from projections.registry import PROJECTIONS


def build_view(env: dict[str, str], name: str) -> ReadModel:
    """A read model to query, its runner elsewhere (`crm projections run`).

    Its connections are not pinged before each use (a round trip per query, a
    quarter of a list page's database time): a query on a connection that the
    server closed is retried on a fresh one (`ReadModel.fetch_all`), and this view
    never writes.
    """
    view_class = PROJECTIONS[name][1]
    factory = InfrastructureFactory[Any].construct(
        env=Environment(name, {**env, "POSTGRES_PRE_PING": "n"})
    )
    return cast(ReadModel, factory.tracking_recorder(view_class))
