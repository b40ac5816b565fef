"""Opportunités: the kanban board, the sortable table, the form and the opportunity page."""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from crm_core.errors import DomainError, InvalidInputError, NotFoundError
from crm_core.values import OPEN_STAGES, Stage
from projections.payments import PaymentBadge
from projections.pipeline import OpportunityRow, SortKey, StageColumn
from projections.timeline import STAGE_LABELS
from web.auth.identity import Staff, requires, staff_guard
from web.auth.permissions import Permission
from web.container import Container
from web.staff.board_reads import BoardReads, BoardView, RenderColumns
from web.staff.forms import (
    Form,
    FormData,
    Pager,
    Parsed,
    is_fragment,
    query,
    safe_next,
    text,
    url_with,
)
from web.staff.payments import payment_badges
from web.ui import container_of, done, fragment, notifications_seen, page, page_with, refused

SORTS: dict[str, str] = {
    "titre": "Titre",
    "client": "Client",
    "montant": "Montant",
    "etape": "Étape",
    "cloture": "Clôture prévue",
    "maj": "Mise à jour",
}
STAGES = [(stage.value, STAGE_LABELS[stage.value]) for stage in Stage]
OPEN_STAGE_CHOICES = [(stage.value, STAGE_LABELS[stage.value]) for stage in OPEN_STAGES]


def opportunity_or_404(container: Container, staff: Staff, opportunity_id: UUID) -> OpportunityRow:
    found = container.pipeline.get(staff.workspace_id, opportunity_id)
    if found is None:
        raise NotFoundError("Opportunité introuvable.")
    return found


COLUMNS_TEMPLATE = "staff/partials/board_columns.html"


def _columns_renderer(request: Request[Any, Any, Any]) -> RenderColumns:
    """Renders the board's columns: nothing of the request (CSRF token, user) is in
    them, so the board keeps them for as long as their rows do not change."""
    engine = request.app.template_engine
    assert engine is not None  # noqa: S101  (the app is built with its template config)
    template = engine.get_template(COLUMNS_TEMPLATE)

    def render(
        columns: list[StageColumn], payments: dict[UUID, PaymentBadge], can_move: bool
    ) -> str:
        html: str = template.render(columns=columns, payments=payments, can_move=can_move)
        return html

    return render


def _board_reads(request: Request[Any, Any, Any]) -> BoardReads:
    reads: BoardReads = request.app.state.board_reads
    return reads


def _board_context(board: BoardView) -> dict[str, Any]:
    return {"columns_html": board.columns_html, "empty": board.empty, "stages": STAGES}


def _opportunity_values(o: OpportunityRow) -> dict[str, str]:
    return {
        "client_id": str(o.client_id),
        "titre": o.titre,
        "montant_estime": f"{o.montant_estime:.2f}".replace(".", ",") if o.montant_estime else "",
        "devise": o.devise,
        "date_cloture_prevue": o.date_cloture_prevue.isoformat() if o.date_cloture_prevue else "",
        "probabilite": "" if o.probabilite is None else str(o.probabilite),
        "owner_id": str(o.owner_id) if o.owner_id else "",
    }


def _opportunity_command(parsed: Parsed) -> dict[str, Any]:
    data = parsed.data
    return {
        "titre": text(data, "titre"),
        "montant_estime": text(data, "montant_estime") or None,
        "devise": text(data, "devise") or "EUR",
        "date_cloture_prevue": parsed.day("date_cloture_prevue"),
        "probabilite": parsed.integer("probabilite", "La probabilité"),
        "owner_id": parsed.uuid("owner_id", "Ce responsable n’existe pas."),
    }


class PipelineController(Controller):
    path = "/opportunites"
    guards = [staff_guard]  # noqa: RUF012
    include_in_schema = False

    # --- the board ----------------------------------------------------------------
    @get("/")
    async def board(self, request: Request[Any, Any, Any], staff: Staff) -> Template:
        board = await _board_reads(request).read(
            staff.workspace_id,
            notifications_seen(request),
            can_move=staff.can(Permission.WRITE_PIPELINE),
            render=_columns_renderer(request),
        )
        if is_fragment(request):
            return fragment(request, "staff/partials/board.html", **_board_context(board))
        return page_with(
            request,
            "staff/pipeline/board.html",
            workspace=board.workspace,
            notifications_unread=board.unread,
            **_board_context(board),
        )

    # --- the table ----------------------------------------------------------------
    @get("/tableau", sync_to_thread=True)
    def table(self, request: Request[Any, Any, Any], staff: Staff) -> Template:
        container = container_of(request)
        sort = query(request, "tri", "maj")
        sort = sort if sort in SORTS else "maj"
        order = query(request, "ordre", "desc" if sort in ("maj", "montant") else "asc")
        etape = query(request, "etape")
        results = container.pipeline.table(
            staff.workspace_id,
            sort=cast(SortKey, sort),
            descending=order == "desc",
            etape=etape if etape in STAGE_LABELS else "",
            q=query(request, "q"),
            limit=25,
            cursor=query(request, "curseur") or None,
        )
        base = {"q": query(request, "q"), "etape": etape}
        sort_columns = [
            {
                "key": key,
                "label": label,
                "url": url_with(
                    "/opportunites/tableau",
                    base,
                    tri=key,
                    ordre="asc"
                    if key == sort and order == "desc"
                    else "desc"
                    if key == sort
                    else ("desc" if key in ("maj", "montant") else "asc"),
                ),
                "aria_sort": ("descending" if order == "desc" else "ascending")
                if key == sort
                else "",
            }
            for key, label in SORTS.items()
        ]
        context: dict[str, Any] = {
            "results": results,
            "paging": Pager(request, results, "/opportunites/tableau"),
            "sort_columns": sort_columns,
            "filtered": bool(base["q"] or etape),
            "payments": payment_badges(container, staff.workspace_id, results.items),
        }
        if is_fragment(request):
            return fragment(request, "staff/partials/opportunity_results.html", **context)
        return page(
            request,
            "staff/pipeline/table.html",
            stages=STAGES,
            q=base["q"],
            etape=etape,
            sort=sort,
            order=order,
            **context,
        )

    # --- create and edit ----------------------------------------------------------
    def _form_page(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        form: Form,
        *,
        status_code: int = 200,
    ) -> Template:
        container = container_of(request)
        clients = container.clients.search(staff.workspace_id, limit=200).items
        return page(
            request,
            "staff/pipeline/form.html",
            status_code=status_code,
            form=form,
            clients=[(str(c.id), c.nom) for c in clients],
            users=container.accounts_view.users(staff.workspace_id, include_disabled=False),
            stages=OPEN_STAGE_CHOICES,
        )

    @get("/nouvelle", sync_to_thread=True, guards=[requires(Permission.WRITE_PIPELINE)])
    def new(self, request: Request[Any, Any, Any], staff: Staff) -> Template:
        workspace = container_of(request).accounts_view.workspace(staff.workspace_id)
        values = {
            "client_id": query(request, "client"),
            "devise": workspace.devise if workspace else "EUR",
            "etape": "prospect",
            "owner_id": str(staff.id),
        }
        return self._form_page(request, staff, Form(values))

    @post("/nouvelle", sync_to_thread=True, guards=[requires(Permission.WRITE_PIPELINE)])
    def create(
        self, request: Request[Any, Any, Any], staff: Staff, data: FormData
    ) -> Template | Response[Any]:
        container = container_of(request)
        parsed = Parsed(data)
        client_id = parsed.uuid("client_id", "Choisissez un client.")
        fields = _opportunity_command(parsed)
        if client_id is None:
            parsed.errors.setdefault("client_id", "Choisissez un client.")
        try:
            parsed.check()
            assert client_id is not None  # noqa: S101  (check() raised otherwise)
            with staff.acting():
                receipt = container.sales.open_opportunity(
                    staff.workspace_id, client_id, etape=text(data, "etape") or "prospect", **fields
                )
        except DomainError as error:
            if isinstance(error, NotFoundError):
                error = InvalidInputError({"client_id": "Ce client n’existe pas."})
            return self._form_page(request, staff, Form(data).fail(error), status_code=422)
        container.wait(receipt.position, "pipeline", "timeline")
        return done(
            request,
            f"Opportunité « {text(data, 'titre').strip()} » ouverte.",
            f"/opportunites/{receipt.id}",
        )

    @get("/{opportunity_id:uuid}", sync_to_thread=True)
    def show(self, request: Request[Any, Any, Any], staff: Staff, opportunity_id: UUID) -> Template:
        o = opportunity_or_404(container_of(request), staff, opportunity_id)
        return self._detail(request, staff, o, Form(_opportunity_values(o)))

    def _detail(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        o: OpportunityRow,
        form: Form,
        *,
        status_code: int = 200,
        lost_form: Form | None = None,
    ) -> Template:
        container = container_of(request)
        users = container.accounts_view.users(staff.workspace_id, include_disabled=False)
        return page(
            request,
            "staff/pipeline/detail.html",
            status_code=status_code,
            o=o,
            form=form,
            lost_form=lost_form or Form(prefix="lost-"),
            users=users,
            owner_name=next((u.nom for u in users if u.id == o.owner_id), None),
            stages=STAGES,
            open_stages=OPEN_STAGE_CHOICES,
            payments=payment_badges(container, staff.workspace_id, [o]),
        )

    @post(
        "/{opportunity_id:uuid}", sync_to_thread=True, guards=[requires(Permission.WRITE_PIPELINE)]
    )
    def update(
        self, request: Request[Any, Any, Any], staff: Staff, opportunity_id: UUID, data: FormData
    ) -> Template | Response[Any]:
        container = container_of(request)
        o = opportunity_or_404(container, staff, opportunity_id)
        parsed = Parsed(data)
        fields = _opportunity_command(parsed)
        try:
            parsed.check()
            with staff.acting():
                receipt = container.sales.update_opportunity(
                    staff.workspace_id, opportunity_id, **fields
                )
        except DomainError as error:
            return self._detail(request, staff, o, Form(data).fail(error), status_code=422)
        container.wait(receipt.position, "pipeline", "timeline")
        return done(request, "Opportunité enregistrée.", f"/opportunites/{opportunity_id}")

    # --- moves through the pipeline -----------------------------------------------
    @post(
        "/{opportunity_id:uuid}/etape",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_PIPELINE)],
    )
    def move(
        self, request: Request[Any, Any, Any], staff: Staff, opportunity_id: UUID, data: FormData
    ) -> Template | Response[Any]:
        """Change the stage: from the board (drag or menu), or the opportunity page.

        Moving to "perdu" without a reason answers with the reason form (into
        `#move-panel` for htmx); any other refusal is a toast (htmx) or a flash.
        """
        container = container_of(request)
        o = opportunity_or_404(container, staff, opportunity_id)
        target = text(data, "etapePipeline")
        from_board = request.headers.get("hx-target") == "board" or text(data, "depuis") == "board"
        back = safe_next(text(data, "suivant"), f"/opportunites/{opportunity_id}")
        try:
            with staff.acting():
                receipt = container.sales.move_opportunity(
                    staff.workspace_id, opportunity_id, target, raison=text(data, "raison")
                )
        except InvalidInputError as error:
            if "raison" not in error.errors:
                return refused(request, error, back)
            form = Form(data, prefix="lost-").fail(error)
            context: dict[str, Any] = {
                "o": o,
                "lost_form": form,
                "from_board": from_board,
                "back": back,
            }
            if is_fragment(request):
                return fragment(
                    request,
                    "staff/partials/lost_reason.html",
                    status_code=422,
                    headers={"HX-Retarget": "#move-panel", "HX-Reswap": "innerHTML"},
                    **context,
                )
            return page(request, "staff/pipeline/lost.html", status_code=422, **context)
        except DomainError as error:
            return refused(request, error, back)
        container.wait(receipt.position, "pipeline", "timeline")
        message = f"« {o.titre} » : {STAGE_LABELS.get(target, target)}."
        if is_fragment(request) and from_board:
            return fragment(
                request,
                "staff/partials/board.html",
                toast=message,
                **_board_context(
                    _board_reads(request).read_now(
                        container,
                        staff.workspace_id,
                        can_move=staff.can(Permission.WRITE_PIPELINE),
                        render=_columns_renderer(request),
                    )
                ),
            )
        return done(request, message, back)

    @post(
        "/{opportunity_id:uuid}/rouvrir",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_PIPELINE)],
    )
    def reopen(
        self, request: Request[Any, Any, Any], staff: Staff, opportunity_id: UUID, data: FormData
    ) -> Response[Any]:
        container = container_of(request)
        o = opportunity_or_404(container, staff, opportunity_id)
        back = f"/opportunites/{opportunity_id}"
        target = text(data, "etapePipeline") or "negociation"
        try:
            with staff.acting():
                receipt = container.sales.reopen_opportunity(
                    staff.workspace_id, opportunity_id, target
                )
        except DomainError as error:
            return refused(request, error, back)
        container.wait(receipt.position, "pipeline", "timeline")
        return done(request, f"« {o.titre} » rouverte en {STAGE_LABELS.get(target, target)}.", back)
