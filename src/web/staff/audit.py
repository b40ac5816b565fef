"""Audit screens (administrators only): the journal, record histories and time travel,
read-model rebuilds with their progress, RGPD export and erasure of a client.

Every action taken here (CSV export, rebuild, verification, RGPD export, erasure) is
recorded as an `AdminAction` event by the functions it calls, inside the
administrator's own action (same actor, same correlation id).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from crm_core.audit.application import display
from crm_core.audit.domainmodel import AdminActionKind
from crm_core.context import acting_as, user_actor
from crm_core.errors import DomainError, InvalidInputError, NotFoundError
from crm_core.labels import EVENT_LABELS, field_label
from projections.audit import JournalFilters
from projections.rebuild import Difference
from projections.registry import PROJECTIONS
from web.audit import journal, journal_csv
from web.auth.identity import Staff, requires
from web.auth.permissions import Permission
from web.container import Container
from web.replay import progress, rebuild_projection, verify_projection
from web.rgpd import export_client, export_html, export_json
from web.staff.clients import client_or_404, user_names
from web.staff.forms import Form, FormData, Pager, Parsed, is_fragment, query, text
from web.staff.timeline import actor_name
from web.templating import PARIS
from web.ui import container_of, done, fragment, page

FILTER_KEYS = ("enregistrement", "client", "acteur", "type", "du", "au", "correlation")
NAMED_ACTORS = (("system", "Système"), ("stripe", "Stripe"), ("mail", "Email"))
_ACTOR = re.compile(r"^(system|stripe|mail|(user|portal):[0-9a-fA-F-]{32,36})$")
_EVENT_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)?$")

KIND_LABELS = {
    "Client": "Client",
    "Opportunity": "Opportunité",
    "Ticket": "Ticket",
    "Activity": "Activité",
    "StaffUser": "Compte",
    "Workspace": "Espace",
    "AdminAction": "Action d’administration",
}
ADMIN_ACTION_LABELS = {
    AdminActionKind.EXPORT_RGPD.value: "Export RGPD",
    AdminActionKind.EFFACEMENT_RGPD.value: "Effacement RGPD",
    AdminActionKind.RECONSTRUCTION_PROJECTION.value: "Reconstruction d’un read model",
    AdminActionKind.VERIFICATION_PROJECTION.value: "Vérification d’un read model",
    AdminActionKind.VERIFICATION_JOURNAL.value: "Vérification du journal",
    AdminActionKind.EXPORT_JOURNAL.value: "Export CSV du journal",
}
#: Where a record of each kind is shown (its page in the CRM).
RECORD_PAGES = {"Client": "/clients/", "Opportunity": "/opportunites/", "Ticket": "/tickets/"}

PROJECTION_LABELS = {
    "accounts": "Comptes et espaces",
    "audit": "Journal d’audit",
    "clients": "Clients",
    "pipeline": "Opportunités",
    "payments": "Paiements",
    "tickets": "Tickets",
    "timeline": "Chronologies",
    "inbox": "Boîte de réception",
    "outbox": "Envois d’emails",
    "analytics": "Statistiques",
    "portal": "Portail client",
    "notifications": "Notifications",
}
STALE_AFTER = timedelta(minutes=1)
RUNNING_STATES = ("reconstruction", "bascule", "verification")
STATE_LABELS = {
    "reconstruction": "Reconstruction en cours",
    "bascule": "Bascule en cours",
    "verification": "Vérification en cours",
    "terminee": "Terminée",
    "echec": "Échec",
}


def record_kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


def event_type_choices() -> list[tuple[str, str]]:
    kinds = [(kind, f"{label} : tous les événements") for kind, label in KIND_LABELS.items()]
    return kinds + sorted(EVENT_LABELS.items(), key=lambda item: item[1])


# --- the journal's filters ---------------------------------------------------------
def parse_filters(params: Any) -> tuple[JournalFilters, dict[str, str]]:
    """The journal filters of a query string, and the French message of each bad one."""
    parsed = Parsed(params)
    record_id = parsed.uuid("enregistrement", "Identifiant d’enregistrement invalide.")
    client_id = parsed.uuid("client", "Client invalide.")
    correlation_id = parsed.uuid("correlation", "Identifiant de corrélation invalide.")
    since_day = parsed.day("du")
    until_day = parsed.day("au")
    actor = text(params, "acteur").strip()
    if actor and not _ACTOR.match(actor):
        parsed.errors["acteur"] = "Acteur inconnu."
    event_type = text(params, "type").strip()
    if event_type and not _EVENT_TYPE.match(event_type):
        parsed.errors["type"] = "Type d’événement inconnu."
    if since_day and until_day and since_day > until_day:
        parsed.errors["au"] = "La date de fin doit suivre la date de début."
    since = datetime.combine(since_day, time.min, PARIS) if since_day else None
    until = datetime.combine(until_day + timedelta(days=1), time.min, PARIS) if until_day else None
    filters = JournalFilters(
        record_id=record_id,
        client_id=client_id,
        actor=actor,
        event_type=event_type,
        since=since,
        until=until - timedelta(microseconds=1) if until else None,
        correlation_id=correlation_id,
    )
    return filters, parsed.errors


# --- background rebuilds and verifications -----------------------------------------
class Job(msgspec.Struct):
    name: str
    kind: str  # "reconstruction" or "verification"
    thread: threading.Thread | None = None
    position: int | None = None
    differences: list[Difference] | None = None
    error: str = ""

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


_jobs: dict[str, Job] = {}
_jobs_lock = threading.Lock()


def job_of(name: str) -> Job | None:
    return _jobs.get(name)


def start_job(container: Container, staff: Staff, name: str, kind: str) -> Job:
    """Rebuild or verify `name` in a thread (the app keeps serving); one job per read model."""
    with _jobs_lock:
        current = _jobs.get(name)
        if current is not None and current.running:
            raise DomainError("Une reconstruction ou une vérification de ce modèle est en cours.")
        job = Job(name=name, kind=kind)
        correlation_id = uuid4()

        def run() -> None:
            try:
                with acting_as(user_actor(staff.id), correlation_id):
                    if kind == "reconstruction":
                        job.position = rebuild_projection(container, name)
                    else:
                        job.differences = verify_projection(container, name)
            except Exception as error:  # shown on the screen; the rebuild dropped its tables
                job.error = str(error) or type(error).__name__
                raise

        job.thread = threading.Thread(target=run, name=f"crm-{kind}-{name}", daemon=True)
        _jobs[name] = job
        job.thread.start()
    return job


def actor_describer(
    container: Container, staff: Staff, names: dict[UUID, str] | None = None
) -> Callable[[str], str]:
    """Who did it, in French: a user's name, "Portail client", "Stripe", "Système"...

    The journal also lists installation-wide actions (rebuilds): their author may
    belong to another workspace, whose names stay private.
    """
    known = names if names is not None else user_names(container, staff.workspace_id)

    def describe(actor: str) -> str:
        if actor.startswith("user:"):
            try:
                user_id = UUID(actor[5:])
            except ValueError:
                return "Utilisateur"
            return known.get(user_id, "Utilisateur d’un autre espace ou supprimé")
        return actor_name(actor, known)

    return describe


def _projection_or_404(name: str) -> str:
    if name not in PROJECTIONS:
        raise NotFoundError("Modèle de lecture inconnu.")
    return name


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    value = round(value)
    return f"{value // 60} min {value % 60:02d} s" if value >= 60 else f"{value} s"


class AuditController(Controller):
    path = "/audit"
    guards = [requires(Permission.ADMIN)]  # noqa: RUF012
    include_in_schema = False

    # --- the journal -----------------------------------------------------------------
    @get("/", sync_to_thread=True)
    def index(self, request: Request[Any, Any, Any], staff: Staff) -> Template:
        container = container_of(request)
        values = {key: query(request, key) for key in FILTER_KEYS}
        filters, errors = parse_filters(request.query_params)
        names = user_names(container, staff.workspace_id)
        describe = actor_describer(container, staff, names)
        if errors:
            results = None
            paging = None
        else:
            results = journal(
                container,
                staff.workspace_id,
                filters,
                limit=30,
                cursor=query(request, "curseur") or None,
            )
            paging = Pager(request, results, "/audit")
        client_names: dict[UUID, str] = {}
        for entry in results.items if results else []:
            if entry.client_id and entry.client_id not in client_names:
                found = container.clients.get(staff.workspace_id, entry.client_id)
                client_names[entry.client_id] = found.nom if found else "Client effacé ou archivé"
        csv_query = "&".join(f"{key}={value}" for key, value in values.items() if value)
        context: dict[str, Any] = {
            "results": results,
            "paging": paging,
            "form": Form(values, errors, prefix="f-"),
            "actor_name": describe,
            "client_names": client_names,
            "kind_label": record_kind_label,
            "record_pages": RECORD_PAGES,
            "admin_actions": ADMIN_ACTION_LABELS,
            "csv_url": "/audit/export.csv" + (f"?{csv_query}" if csv_query else ""),
            "filtered": any(values.values()),
        }
        status = 422 if errors else 200
        if is_fragment(request):
            return fragment(
                request, "staff/audit/_journal_results.html", status_code=status, **context
            )
        clients = container.clients.search(staff.workspace_id, limit=200).items
        actors = [(user_actor(user_id), nom) for user_id, nom in names.items()]
        return page(
            request,
            "staff/audit/journal.html",
            status_code=status,
            clients=[(str(c.id), c.nom) for c in clients],
            actors=[*sorted(actors, key=lambda a: a[1].lower()), *NAMED_ACTORS],
            event_types=event_type_choices(),
            **context,
        )

    @get("/export.csv", sync_to_thread=True)
    def export_csv(self, request: Request[Any, Any, Any], staff: Staff) -> Response[str]:
        filters, errors = parse_filters(request.query_params)
        if errors:
            raise InvalidInputError(errors)
        container = container_of(request)
        describe = actor_describer(container, staff)
        with staff.acting():
            content = journal_csv(container, staff.workspace_id, filters, actor_label=describe)
        stamp = datetime.now(PARIS).strftime("%Y%m%d-%H%M")
        return Response(
            content,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="journal-{stamp}.csv"'},
        )

    # --- a record's history and time travel --------------------------------------------
    @get("/historique/{record_id:uuid}", sync_to_thread=True)
    def history(self, request: Request[Any, Any, Any], staff: Staff, record_id: UUID) -> Template:
        container = container_of(request)
        entries = container.audit.history(staff.workspace_id, record_id)
        describe = actor_describer(container, staff)
        kind = entries[0].event_type.partition(".")[0] if entries else ""
        values = {"version": query(request, "version"), "date": query(request, "date")}
        errors: dict[str, str] = {}
        snapshot = None
        parsed = Parsed(request.query_params)
        version = parsed.integer("version", "La version")
        moment = parsed.moment("date") if values["date"] else None
        errors.update(parsed.errors)
        if version is not None and not 1 <= version <= len(entries):
            errors["version"] = f"La version doit être comprise entre 1 et {len(entries)}."
        if not errors and (version is not None or moment is not None):
            try:
                snapshot = container.audit.snapshot(
                    staff.workspace_id,
                    record_id,
                    version=version if moment is None else None,
                    at=moment,
                )
            except NotFoundError as error:
                errors["date"] = error.message
        fields = (
            [
                (field_label(name), display(value))
                for name, value in snapshot.fields.items()
                if name != "workspace_id"
            ]
            if snapshot
            else []
        )
        return page(
            request,
            "staff/audit/history.html",
            status_code=422 if errors else 200,
            record_id=record_id,
            kind=kind,
            kind_label=record_kind_label(kind),
            record_page=RECORD_PAGES.get(kind),
            entries=list(reversed(entries)),
            actor_name=describe,
            form=Form(values, errors, prefix="tt-"),
            snapshot=snapshot,
            fields=fields,
        )

    # --- read models: rebuild and verify -----------------------------------------------
    def _progress_context(self, request: Request[Any, Any, Any], name: str) -> dict[str, Any]:
        state = progress(container_of(request), name)
        job = job_of(name)
        # Another process may be rebuilding (the CLI): its row keeps moving. A row stuck
        # for a minute is a job that died with its process, not one to poll forever.
        recent = state is not None and datetime.now(UTC) - state.updated_at < STALE_AFTER
        running = bool(job and job.running) or bool(
            state and state.state in RUNNING_STATES and recent
        )
        return {
            "name": name,
            "label": PROJECTION_LABELS.get(name, name),
            "state": state,
            "state_label": (
                ""
                if state is None
                else "Interrompue"
                if state.state in RUNNING_STATES and not running
                else STATE_LABELS.get(state.state, state.state)
            ),
            "job": job,
            "running": running,
            "time_left": _seconds(state.seconds_left) if state else "—",
        }

    @get("/projections", sync_to_thread=True)
    def projections(self, request: Request[Any, Any, Any], staff: Staff) -> Template:
        return page(
            request,
            "staff/audit/projections.html",
            items=[self._progress_context(request, name) for name in sorted(PROJECTIONS)],
        )

    @get("/projections/{name:str}/progression", sync_to_thread=True)
    def progression(self, request: Request[Any, Any, Any], staff: Staff, name: str) -> Template:
        context = self._progress_context(request, _projection_or_404(name))
        if is_fragment(request):
            return fragment(request, "staff/audit/_progress.html", item=context)
        return page(request, "staff/audit/projections.html", items=[context])

    def _start(
        self, request: Request[Any, Any, Any], staff: Staff, name: str, kind: str
    ) -> Template | Response[Any]:
        _projection_or_404(name)
        start_job(container_of(request), staff, name, kind)
        label = PROJECTION_LABELS.get(name, name)
        message = (
            f"Reconstruction de « {label} » lancée."
            if kind == "reconstruction"
            else f"Vérification de « {label} » lancée."
        )
        if is_fragment(request):
            return fragment(
                request,
                "staff/audit/_progress.html",
                toast=message,
                item=self._progress_context(request, name),
            )
        return done(request, message, f"/audit/projections#projection-{name}")

    @post("/projections/{name:str}/reconstruire", sync_to_thread=True)
    def rebuild(
        self, request: Request[Any, Any, Any], staff: Staff, name: str
    ) -> Template | Response[Any]:
        return self._start(request, staff, name, "reconstruction")

    @post("/projections/{name:str}/verifier", sync_to_thread=True)
    def verify(
        self, request: Request[Any, Any, Any], staff: Staff, name: str
    ) -> Template | Response[Any]:
        return self._start(request, staff, name, "verification")

    # --- RGPD ----------------------------------------------------------------------------
    @get("/clients/{client_id:uuid}/export.json", sync_to_thread=True)
    def export_json(
        self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID
    ) -> Response[bytes]:
        container = container_of(request)
        client_or_404(container, staff, client_id)
        with staff.acting():
            export = export_client(container, staff.workspace_id, client_id)
        return Response(
            export_json(export),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="rgpd-client-{client_id}.json"'},
        )

    @get("/clients/{client_id:uuid}/export.html", sync_to_thread=True)
    def export_html(
        self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID
    ) -> Response[str]:
        container = container_of(request)
        client_or_404(container, staff, client_id)
        with staff.acting():
            export = export_client(container, staff.workspace_id, client_id)
        return Response(export_html(export), media_type="text/html; charset=utf-8")

    def _erase_page(
        self, request: Request[Any, Any, Any], client: Any, form: Form, status_code: int = 200
    ) -> Template:
        return page(
            request, "staff/audit/erase.html", status_code=status_code, client=client, form=form
        )

    @get("/clients/{client_id:uuid}/effacer", sync_to_thread=True)
    def erase_form(
        self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID
    ) -> Template:
        client = client_or_404(container_of(request), staff, client_id)
        return self._erase_page(request, client, Form(prefix="rgpd-"))

    @post("/clients/{client_id:uuid}/effacer", sync_to_thread=True)
    def erase(
        self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID, data: FormData
    ) -> Template | Response[Any]:
        container = container_of(request)
        client = client_or_404(container, staff, client_id)
        typed = text(data, "confirmation").strip()
        if typed != client.nom.strip():
            form = Form(
                data,
                {"confirmation": "Le nom saisi ne correspond pas : rien n’a été effacé."},
                prefix="rgpd-",
            )
            return self._erase_page(request, client, form, status_code=422)
        with staff.acting():
            receipt = container.sales.erase_client(staff.workspace_id, client_id)
            action = container.audit.record(
                staff.workspace_id,
                kind=AdminActionKind.EFFACEMENT_RGPD,
                cible=str(client_id),
                details="Données personnelles du client et de ses tickets effacées",
            )
        container.wait(
            max(receipt.position, action.position), "clients", "timeline", "tickets", "audit"
        )
        return done(
            request,
            "Données personnelles du client effacées ; le journal d’audit en garde la trace.",
            "/clients",
        )
