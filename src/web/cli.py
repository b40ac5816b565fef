"""The `crm` command: serve, demo data, projections, events, users, worker."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from uuid import UUID

import click
import msgspec
from eventsourcing.utils import get_topic

from crm_core.accounts.domainmodel import Workspace
from crm_core.audit.application import display
from crm_core.context import acting_as
from crm_core.errors import DomainError
from crm_core.ids import SYSTEM_WORKSPACE
from projections.integrity import verify_chain
from projections.rebuild import RebuildProgress
from projections.registry import PROJECTIONS
from web.container import Container, running_container, scheduled_jobs
from web.mail import poll_imap_once, running_imap_poller, running_mail_receiver
from web.replay import ReplayFailedError, rebuild_all, rebuild_projection, verify_projection
from web.rgpd import export_client, export_html, export_json
from web.settings import Settings, settings


@contextmanager
def _container(*, projections: bool = False) -> Iterator[Container]:
    try:
        with running_container(settings(), projections=projections) as container:
            yield container
    except DomainError as error:
        raise click.ClickException(error.message) from None


def _stop_on_sigterm() -> None:
    """Leave on SIGTERM (what `docker stop` sends) as on Ctrl-C: through the cleanup.

    Python's default SIGTERM ends the process at once, with no `finally` run: runners
    and workers would not stop their threads nor return their connections. A second
    SIGTERM during the cleanup ends the process the default way.
    """

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


@click.group(help="CRM pour freelances et petites agences.")
@click.option("-v", "--verbose", is_flag=True, help="Journal détaillé.")
def main(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@main.command(help="Lance l’application web (PostgreSQL embarqué sans DATABASE_URL).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Charge l’espace de démonstration s’il manque.")
@click.option("--no-projections", is_flag=True, help="Les projections tournent ailleurs.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processus web (défaut : 2 au plus avec DATABASE_URL et REDIS_URL, sinon 1).",
)
def serve(host: str, port: int, demo: bool, no_projections: bool, workers: int | None) -> None:
    import uvicorn  # noqa: PLC0415  (only this command serves HTTP)

    from web.app import create_app  # noqa: PLC0415  (the app is built only to serve)

    chosen = settings()
    count = workers if workers is not None else default_workers(chosen)
    if count > 1 and chosen.embedded:
        msg = (
            "Plusieurs processus web demandent DATABASE_URL"
            " (le PostgreSQL embarqué n’en sert qu’un)."
        )
        raise click.ClickException(msg)
    # This process applies the migrations, loads the demo and, unless told otherwise,
    # runs the projection runners: once, whatever the number of web processes.
    with _container(projections=not no_projections) as container, ExitStack() as stack:
        if demo:
            _print_login(container)
        if container.settings.embedded:
            # Embedded mode: the inbox receives mail in this process too.
            mail_host, mail_port = stack.enter_context(running_mail_receiver(container))
            click.echo(f"Réception des emails (SMTP) : {mail_host}:{mail_port}")
            if container.settings.mail.imap_poll_seconds > 0:
                stack.enter_context(
                    running_imap_poller(container, container.settings.mail.imap_poll_seconds)
                )
        base = f"http://{host}:{port}"
        click.echo(f"CRM prêt : ouvrez {base}/  (santé : {base}/health)")
        if count == 1:
            uvicorn.run(
                create_app(container.settings, container=container),
                host=host,
                port=port,
                log_level="warning",
            )
            return
        # Each worker builds its own app and container from the environment (uvicorn
        # spawns them): they must not start projection runners of their own, or N
        # copies of each runner would compete for every event. Their read-your-writes
        # waits poll the tracking rows that this process's runners (or `crm
        # projections run`) write. Without REDIS_URL each worker runs its own job
        # worker (the periodic jobs are idempotent).
        os.environ["CRM_RUN_PROJECTIONS"] = "0"
        click.echo(f"{count} processus web.")
        uvicorn.run(
            "web.app:create_app",
            factory=True,
            workers=count,
            host=host,
            port=port,
            log_level="warning",
        )


def default_workers(chosen: Settings) -> int:
    """Two web processes on a server (DATABASE_URL and REDIS_URL: sessions and jobs
    shared between processes), never more than the cores; one in embedded mode."""
    if chosen.embedded or not chosen.redis_url:
        return 1
    return max(1, min(2, os.cpu_count() or 1))


def _print_login(container: Container) -> None:
    from web.demo import load_demo  # noqa: PLC0415  (demo data is only loaded on request)

    login = load_demo(container)
    verb = "créé" if login.created else "déjà présent"
    click.echo(f"Espace de démonstration {verb}. Connexion : {login.email} / {login.password}")


@main.command(help="Charge un espace de démonstration réaliste et affiche l’identifiant.")
def demo() -> None:
    with _container(projections=True) as container:
        _print_login(container)


@main.group(help="Projections (read models) : état, exécution, reconstruction.")
def projections() -> None:
    pass


@projections.command("status", help="Position et retard de chaque projection.")
def projections_status() -> None:
    with _container() as container:
        for name, values in container.lag().items():
            click.echo(f"{name:<10} position {values['position']:>8}  retard {values['lag']:>6}")


@projections.command("run", help="Fait tourner les projections jusqu’à interruption (Ctrl-C).")
def projections_run() -> None:
    _stop_on_sigterm()
    with _container(projections=True) as container:
        click.echo(f"Projections en cours : {', '.join(container.runners)}. Ctrl-C pour arrêter.")
        try:
            while True:
                for runner in container.runners.values():
                    runner.run_forever(timeout=0.5)
        except KeyboardInterrupt:
            click.echo("Arrêt des projections.")


def _print_progress(progress: RebuildProgress) -> None:
    left = progress.seconds_left
    click.echo(
        f"  {progress.name} [{progress.state}] {progress.done}/{progress.total}"
        f" ({progress.percent:.0f} %), {progress.rate:.0f} évt/s"
        + (f", reste ~{left:.0f} s" if left is not None else ""),
        err=True,
    )


@projections.command(
    "rebuild",
    help="Reconstruit une projection (ou --toutes) dans de nouvelles tables, puis bascule.",
)
@click.argument("name", type=click.Choice(sorted(PROJECTIONS)), required=False)
@click.option(
    "--toutes",
    "every",
    is_flag=True,
    help="Toutes les projections, en une seule lecture du journal (par processus).",
)
@click.option(
    "--processus",
    "processes",
    type=click.IntRange(min=1, max=16),
    default=None,
    help="Avec --toutes : processus de rejeu en parallèle"
    " (défaut : un par cœur, quatre au plus, à partir de 100 000 événements).",
)
def projections_rebuild(name: str | None, every: bool, processes: int | None) -> None:
    if (name is None) == (not every):
        msg = "Indiquez une projection, ou --toutes (pas les deux)."
        raise click.UsageError(msg)
    if processes is not None and not every:
        msg = "--processus ne s’emploie qu’avec --toutes."
        raise click.UsageError(msg)
    started = time.monotonic()
    with _container() as container, acting_as("system"):
        if name is not None:
            positions = {name: rebuild_projection(container, name, on_progress=_print_progress)}
        else:
            try:
                positions = rebuild_all(container, on_progress=_print_progress, processes=processes)
            except ReplayFailedError as error:
                raise click.ClickException(str(error)) from error
    for rebuilt, position in positions.items():
        click.echo(f"{rebuilt} reconstruite jusqu’à la position {position}.")
    click.echo(f"Terminé en {time.monotonic() - started:.1f} s, sans interruption.")


@projections.command("verify", help="Compare une projection avec un rejeu complet.")
@click.argument("name", type=click.Choice(sorted(PROJECTIONS)))
def projections_verify(name: str) -> None:
    with _container() as container, acting_as("system"):
        differences = verify_projection(container, name, on_progress=_print_progress)
    for difference in differences:
        click.echo(
            f"{difference.table} : {difference.only_live} ligne(s) seulement en direct,"
            f" {difference.only_replayed} seulement rejouée(s)"
        )
        for sample in difference.samples:
            click.echo(f"    {sample}")
    if differences:
        click.echo(f"{name} diffère d’un rejeu complet.", err=True)
        sys.exit(1)
    click.echo(f"{name} est identique à un rejeu complet.")


@main.group(help="Le journal des événements.")
def events() -> None:
    pass


def _describe(notification: object) -> str:
    topic = getattr(notification, "topic", "")
    state = msgspec.json.decode(getattr(notification, "state", b"{}"))
    actor = state.get("actor", "?")
    return (
        f"#{getattr(notification, 'id', '?'):<7} {state.get('timestamp', '')[:19]}  "
        f"{topic.split(':')[-1]:<28} {actor:<45} {getattr(notification, 'originator_id', '')}"
    )


@events.command("tail", help="Les derniers événements (--follow pour suivre).")
@click.option("-n", "--lines", default=20, show_default=True, type=int)
@click.option("-f", "--follow", is_flag=True)
def events_tail(lines: int, follow: bool) -> None:
    with _container() as container:
        last = container.log.recorder.max_notification_id() or 0
        start = max(1, last - lines + 1)
        while True:
            batch = container.log.recorder.select_notifications(start=start, limit=500)
            for notification in batch:
                click.echo(_describe(notification))
                start = notification.id + 1
            if not follow:
                return
            time.sleep(0.5)


@events.command("show", help="L’histoire d’un enregistrement, événement par événement.")
@click.argument("aggregate_id", type=click.UUID)
def events_show(aggregate_id: UUID) -> None:
    with _container() as container:
        # Through the mapper: personal fields decrypted (or "[effacé]"), typed values.
        domain_events = list(container.log.repository.event_store.get(aggregate_id))
        if not domain_events:
            raise click.ClickException(f"Aucun événement pour {aggregate_id}.")
        for event in domain_events:
            click.echo(f"v{event.originator_version}  {type(event).__qualname__}")
            for key, value in vars(event).items():
                if key not in ("password_hash", "originator_id", "originator_version"):
                    click.echo(f"    {key}: {display(value)}")


@events.command("verify", help="Vérifie la chaîne d’empreintes du journal (falsification).")
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    help="POSITION:EMPREINTE notée hors de la base (répétable).",
)
def events_verify(anchors: tuple[str, ...]) -> None:
    expected: dict[int, str] = {}
    for anchor in anchors:
        position, _, value = anchor.partition(":")
        if not position.isdigit() or not value:
            raise click.BadParameter(f"« {anchor} » : attendu POSITION:EMPREINTE")
        expected[int(position)] = value
    with _container() as container:
        report = verify_chain(
            container.conninfo,
            anchors=expected,
            progress=lambda done: click.echo(f"  … {done} événements vérifiés", err=True),
        )
        with acting_as("system"):
            container.audit.record(
                SYSTEM_WORKSPACE,
                kind="verification_journal",
                cible="crm_events",
                details=f"{report.checked} vérifiés, {len(report.problems)} anomalie(s)",
            )
    for problem in report.problems:
        click.echo(f"#{problem.position}: {problem.message}")
    click.echo(
        f"{report.checked} positions vérifiées ; tête de chaîne #{report.head_position}"
        f" {report.head_hash}"
    )
    if not report.ok:
        click.echo(f"JOURNAL ALTÉRÉ : {len(report.problems)} anomalie(s).", err=True)
        sys.exit(1)
    click.echo("Journal intact.")


@main.group(help="Données personnelles (RGPD) : export et effacement d’un client.")
def rgpd() -> None:
    pass


@rgpd.command("erase", help="Efface les données personnelles d’un client (irréversible).")
@click.argument("client_id", type=click.UUID)
@click.option("--yes", is_flag=True, help="Sans demander de confirmation.")
@click.option("--actor", default="system", show_default=True, help="Qui demande l’effacement.")
def rgpd_erase(client_id: UUID, yes: bool, actor: str) -> None:
    if not yes:
        click.confirm(
            f"Effacer définitivement les données personnelles du client {client_id} ?", abort=True
        )
    with _container() as container, acting_as(actor):
        workspace_id = container.sales.workspace_of(client_id)
        receipt = container.sales.erase_client(workspace_id, client_id)
    click.echo(f"Client {client_id} effacé (position {receipt.position}).")


@rgpd.command("export", help="Exporte tout ce que le CRM sait d’un client (JSON, HTML).")
@click.argument("client_id", type=click.UUID)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Fichier JSON (sinon stdout)."
)
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Version lisible HTML.")
@click.option("--actor", default="system", show_default=True, help="Qui demande l’export.")
def rgpd_export(client_id: UUID, output: str | None, html_path: str | None, actor: str) -> None:
    with _container() as container, acting_as(actor):
        workspace_id = container.sales.workspace_of(client_id)
        export = export_client(container, workspace_id, client_id)
    data = export_json(export)
    if output:
        Path(output).write_bytes(data)
    else:
        click.echo(data.decode())
    if html_path:
        Path(html_path).write_text(export_html(export), encoding="utf-8")


@main.group(help="Comptes de l’équipe.")
def users() -> None:
    pass


def _first_workspace_id(container: Container) -> UUID | None:
    """The first workspace created, read from the log itself.

    Not from the accounts read model: no runner works in this process, so a
    workspace created by the previous command may not be projected yet.
    """
    first = container.log.recorder.select_notifications(
        start=1, limit=1, topics=[get_topic(Workspace.Created)]
    )
    return UUID(str(first[0].originator_id)) if first else None


@users.command("create", help="Crée un compte (et l’espace de travail s’il n’y en a aucun).")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option(
    "--role",
    required=True,
    type=click.Choice(["admin", "commercial", "developpeur_nocode", "developpeur_automatisme"]),
)
@click.option("--name", "nom", default="", help="Nom affiché (par défaut : l’email).")
@click.option("--workspace", "workspace_id", type=click.UUID, default=None)
def users_create(email: str, password: str, role: str, nom: str, workspace_id: UUID | None) -> None:
    with _container() as container, acting_as("system"):
        if workspace_id is None:
            workspace_id = _first_workspace_id(container)
        if workspace_id is None:
            workspace_id = container.accounts.create_workspace(nom="Mon espace").id
        receipt = container.accounts.register_user(
            workspace_id,
            email=email,
            nom=nom or email.split("@", maxsplit=1)[0],
            role=role,
            password=password,
        )
        click.echo(f"Compte créé : {email} ({role}), id {receipt.id}")


@main.command(help="Exécute les tâches de fond (dramatiq) jusqu’à interruption.")
@click.option("--threads", default=4, show_default=True, type=int)
def worker(threads: int) -> None:
    from web.jobs import running_worker  # noqa: PLC0415  (only this command consumes jobs)

    _stop_on_sigterm()
    with (
        _container_for_worker() as container,
        running_worker(container.jobs, threads=threads),
        scheduled_jobs(container),
    ):
        click.echo(
            f"Worker prêt ({threads} fils) sur {', '.join(container.jobs.actors) or '—'}."
            " Ctrl-C pour arrêter."
        )
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            click.echo("Arrêt du worker.")


@contextmanager
def _container_for_worker() -> Iterator[Container]:
    with running_container(settings(), projections=False, worker=False) as container:
        yield container


@main.group(help="La boîte de réception : serveur SMTP, relève IMAP.")
def mail() -> None:
    pass


@mail.command("serve", help="Reçoit les emails en SMTP jusqu’à interruption (Ctrl-C).")
@click.option("--host", default=None, help="Interface (défaut : CRM_MAIL_HOST).")
@click.option("--port", default=None, type=int, help="Port (défaut : CRM_MAIL_PORT).")
def mail_serve(host: str | None, port: int | None) -> None:
    with (
        _container() as container,
        running_mail_receiver(container, host=host, port=port) as (
            served_host,
            served_port,
        ),
    ):
        click.echo(f"Réception SMTP sur {served_host}:{served_port}. Ctrl-C pour arrêter.")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            click.echo("Arrêt de la réception.")


@mail.command("poll", help="Relève les boîtes IMAP configurées (une fois, ou --every N).")
@click.option("--every", default=0, type=int, help="Recommence toutes les N secondes.")
def mail_poll(every: int) -> None:
    with _container() as container:
        while True:
            for workspace_id, report in poll_imap_once(container).items():
                click.echo(f"{workspace_id} : {report}")
            if every <= 0:
                return
            time.sleep(every)


@main.command(help="Applique les migrations des read models.")
def migrate() -> None:
    with _container():
        click.echo("Schéma à jour.")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
