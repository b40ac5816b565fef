"""The tableau de bord's list of the latest open tickets."""

from __future__ import annotations

from uuid import UUID

from web.container import Container


def test_the_latest_open_tickets_come_newest_first_without_the_resolved_and_closed(
    container: Container, workspace: UUID
) -> None:
    sales, support = container.sales, container.support
    client = sales.register_client(workspace, nom="Martin").id
    ids = [
        support.open_ticket(workspace, client, sujet=f"T{n}", description="Aïe").id
        for n in range(4)
    ]
    support.change_status(workspace, ids[1], "resolu")
    support.change_status(workspace, ids[2], "ferme")
    receipt = support.change_status(workspace, ids[0], "en_cours")  # the latest activity
    container.wait(receipt.position, "tickets")

    recent = container.tickets.recent_open(workspace, limit=10)
    assert [t.id for t in recent] == [ids[0], ids[3]]
    assert recent[0].client_nom == "Martin"
    assert [t.id for t in container.tickets.recent_open(workspace, limit=1)] == [ids[0]]
