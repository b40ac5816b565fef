"""The kanban board in one statement, for a reader that keeps what it rendered.

The board page reads four read models: the stage totals and the newest cards
(pipeline), the cards' client names (clients), their latest payment (payments) and,
around the board, the workspace and the unread notifications. One statement answers
all of it in one round trip and one snapshot, with the positions of the read models
the cards are made of. The cards come back (as one JSON document) only when those
positions differ from the ones the caller passes: a read model changes its rows and
its position in one transaction, so the same positions mean the same board, and the
usual reload costs PostgreSQL a few index reads instead of 120 cards.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import LiteralString
from uuid import UUID

import msgspec
from psycopg.sql import SQL, Composed, Literal

from crm_core.values import Stage
from projections.accounts import WorkspaceRow
from projections.payments import STATUS_LABELS, PaymentBadge
from projections.pipeline import OpportunityRow, StageColumn
from projections.readmodel import positions_text

#: The read models whose rows the cards (and the column totals) show.
BOARD_READ_MODELS = ("pipeline", "clients", "payments")


class _Payment(msgspec.Struct, frozen=True):
    payment_request_id: UUID
    status: str
    processing: bool
    url: str
    amount: Decimal
    currency: str
    updated_at: datetime
    paid_at: datetime | None


class _Card(OpportunityRow, frozen=True):
    """A card as the statement sends it: the opportunity's row and its latest payment."""

    paiement: _Payment | None  # the latest payment request, if any


class _Total(msgspec.Struct, frozen=True):
    etape: str
    count: int
    total: Decimal


class _Document(msgspec.Struct, frozen=True):
    totals: list[_Total]
    cards: list[_Card]  # newest first, at most `per_stage` per stage


class Board(msgspec.Struct, frozen=True):
    """The columns of the board (every stage, in order) and the cards' payments."""

    columns: list[StageColumn]
    payments: dict[UUID, PaymentBadge]


_DECODER = msgspec.json.Decoder(_Document)


def decode_board(document: str) -> Board:
    decoded = _DECODER.decode(document)
    cards: dict[str, list[OpportunityRow]] = {stage.value: [] for stage in Stage}
    payments: dict[UUID, PaymentBadge] = {}
    for card in decoded.cards:
        cards[card.etape].append(card)  # an OpportunityRow (its payment goes apart)
        if (p := card.paiement) is not None:
            payments[card.id] = PaymentBadge(
                opportunity_id=card.id,
                payment_request_id=p.payment_request_id,
                status=p.status,
                libelle=STATUS_LABELS[p.status],
                processing=p.processing,
                url=p.url,
                amount=p.amount,
                currency=p.currency,
                updated_at=p.updated_at,
                paid_at=p.paid_at,
            )
    totals = {total.etape: total for total in decoded.totals}
    columns = []
    for stage in Stage:
        total = totals.get(stage.value)
        columns.append(
            StageColumn(
                etape=stage.value,
                count=total.count if total else 0,
                total=total.total if total else Decimal(0),
                cards=cards[stage.value],
            )
        )
    return Board(columns=columns, payments=payments)


def decode_workspace(document: str | None) -> WorkspaceRow | None:
    return msgspec.json.decode(document, type=WorkspaceRow) if document else None


# Totals from rm_pipeline_totals (a few rows per workspace); per stage, the newest
# cards straight from the stage index read backwards (as `PipelineView.board`), each
# with its latest payment request (as `PaymentsView.latest_for_opportunities`).
_DOCUMENT: LiteralString = """json_build_object(
  'totals', COALESCE((
    SELECT json_agg(json_build_object('etape', t.etape, 'count', t.n, 'total', t.total::text))
    FROM (SELECT etape, sum(nombre)::bigint AS n, sum(total) AS total
          FROM rm_pipeline_totals WHERE workspace_id = %(ws)s GROUP BY etape) t), '[]'),
  'cards', COALESCE((
    SELECT json_agg(json_build_object(
      'id', o.id, 'workspace_id', o.workspace_id, 'client_id', o.client_id,
      'client_nom', COALESCE(c.nom, ''), 'titre', o.titre,
      'montant_estime', o.montant_estime::text, 'devise', o.devise, 'etape', o.etape,
      'date_cloture_prevue', o.date_cloture_prevue, 'probabilite', o.probabilite,
      'owner_id', o.owner_id, 'raison_perte', o.raison_perte, 'created_at', o.created_at,
      'updated_at', o.updated_at, 'won_at', o.won_at,
      'paiement', (SELECT json_build_object(
                     'payment_request_id', p.id, 'status', p.status,
                     'processing', p.processing, 'url', p.url, 'amount', p.amount::text,
                     'currency', p.currency, 'updated_at', p.updated_at, 'paid_at', p.paid_at)
                   FROM rm_payment_requests p
                   WHERE p.workspace_id = o.workspace_id AND p.opportunity_id = o.id
                   ORDER BY p.created_at DESC LIMIT 1)
    ) ORDER BY o.updated_at DESC, o.id DESC)
    FROM unnest({stages}::text[]) AS s(etape)
    CROSS JOIN LATERAL (SELECT * FROM rm_opportunities o
                        WHERE o.workspace_id = %(ws)s AND o.etape = s.etape
                        ORDER BY o.updated_at DESC, o.id DESC LIMIT {per_stage}) o
    LEFT JOIN rm_clients c ON c.id = o.client_id), '[]')
)::text"""

_WORKSPACE: LiteralString = """(SELECT json_build_object(
    'id', w.id, 'nom', w.nom, 'raison_sociale', w.raison_sociale, 'siret', w.siret,
    'numero_tva', w.numero_tva, 'devise', w.devise, 'logo_url', w.logo_url,
    'domaine_mail', w.domaine_mail)::text
  FROM rm_workspaces w WHERE w.id = %(ws)s)"""

_UNREAD: LiteralString = """(SELECT count(*) FROM rm_notifications n
  WHERE n.workspace_id = %(ws)s
    AND (%(since)s::timestamptz IS NULL OR n.created_at > %(since)s::timestamptz))"""


def board_query(tracking_tables: Sequence[str], *, per_stage: int) -> Composed:
    """The board's statement over the tracking tables of `BOARD_READ_MODELS`.

    Parameters: `known` (the positions of the board the caller keeps, or None),
    `ws` (the workspace), `since` (when the session last opened the notifications).
    Answers one row: `positions`, `workspace` (JSON or NULL), `unread`, and `board`
    (JSON, NULL when the positions equal `known`). Composed once: composing it again
    on every request showed in the portal's profile.
    """
    positions = positions_text(tracking_tables)
    document = SQL(_DOCUMENT).format(
        stages=Literal([stage.value for stage in Stage]), per_stage=Literal(per_stage)
    )
    return SQL(
        "SELECT v.positions, " + _WORKSPACE + " AS workspace, " + _UNREAD + " AS unread,"
        " CASE WHEN v.positions = %(known)s THEN NULL ELSE {document} END AS board"
        " FROM (SELECT {positions} AS positions) v"
    ).format(document=document, positions=positions)
