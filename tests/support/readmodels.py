"""Read-model helpers for the tests: full table dumps, and a replay without runners."""

from __future__ import annotations

from typing import Any

import psycopg
from eventsourcing.persistence import Tracking
from psycopg import sql

from crm_core.application import LOG_NAME, CrmApplication
from projections.readmodel import ReadModel
from projections.registry import PROJECTIONS

Dump = dict[str, list[tuple[Any, ...]]]


def table_names() -> list[str]:
    """Every table a read model owns."""
    return [table for _, view_class in PROJECTIONS.values() for table in view_class.tables]


def dump_tables(conninfo: str, tables: list[str] | None = None) -> Dump:
    """Every row of the read-model tables, in a stable order (not every table has an id).

    A row of kept sums that counts nothing is left out: it means the same as no row
    (a batch or a replay writes none, event-by-event deltas may leave one).
    """
    kept = {
        sums.table: sums.nonzero
        for _, view_class in PROJECTIONS.values()
        for sums in view_class.kept_sums
    }
    with psycopg.connect(conninfo) as conn:
        return {
            table: sorted(
                conn.execute(
                    sql.SQL("SELECT * FROM {0} WHERE {1}").format(
                        sql.Identifier(table), kept.get(table, sql.SQL("true"))
                    )
                ).fetchall(),
                key=repr,
            )
            for table in tables or table_names()
        }


def replay(source: CrmApplication, views: dict[str, ReadModel]) -> None:
    """Reset the views, then apply every stored event of `source` through each projection.

    The same `process_event` path as a ProjectionRunner, synchronously: the
    views may live in another database than the events.
    """
    for name, view in views.items():
        projection_class = PROJECTIONS[name][0]
        view.reset(LOG_NAME)
        projection = projection_class(view=view)
        notifications = source.recorder.select_notifications(
            start=1, limit=1_000_000, topics=projection_class.topics
        )
        for notification in notifications:
            projection.process_event(
                source.mapper.to_domain_event(notification),
                Tracking(application_name=LOG_NAME, notification_id=notification.id),
            )
