"""Helpers of the projection runner tests: an event log of its own, clients, row counts."""

from __future__ import annotations

from uuid import uuid4

import psycopg

from crm_core.context import acting_as
from crm_core.sales.application import SalesApplication


def register_clients(sales: SalesApplication, count: int) -> int:
    """Register `count` clients in a new workspace; the position of the last one."""
    workspace_id = uuid4()
    position = 0
    with acting_as("system"):
        for n in range(count):
            position = sales.register_client(workspace_id, nom=f"Client {n}").position
    return position


def count_rows(conninfo: str, table: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0
