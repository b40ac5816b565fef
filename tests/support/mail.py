"""Helpers of the inbox tests: the message corpus, workspaces with a mail domain,
a capturing SMTP server (the "remote" server our sends go to) and Dovecot."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from aiosmtpd.controller import Controller

from crm_core.context import acting_as
from tests.support.services import unavailable
from web.container import Container

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"


def corpus(name: str, **values: str) -> bytes:
    """A corpus file with its {{PLACEHOLDERS}} filled in."""
    raw = (FIXTURES / name).read_bytes()
    for key, value in values.items():
        raw = raw.replace(f"{{{{{key.upper()}}}}}".encode(), value.encode())
    return raw


@dataclass
class MailSpace:
    workspace_id: UUID
    domain: str


def new_mail_space(container: Container, domain: str | None = None) -> MailSpace:
    domain = domain or f"w{uuid4().hex[:10]}.test"
    with acting_as("system"):
        receipt = container.accounts.create_workspace(nom="Espace mail", domaine_mail=domain)
    container.wait(receipt.position, "accounts")
    return MailSpace(receipt.id, domain)


def new_client(container: Container, space: MailSpace, email: str, nom: str = "Client") -> UUID:
    with acting_as("system"):
        receipt = container.sales.register_client(space.workspace_id, nom=nom, email=email)
    container.wait(receipt.position, "clients")
    return receipt.id


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            msg = "Condition non atteinte à temps"
            raise TimeoutError(msg)
        time.sleep(0.02)


@dataclass
class Captured:
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 2.0.0 Reçu par le serveur de test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def capturing_smtp_server() -> Iterator[tuple[int, Captured]]:
    """A real SMTP server on loopback that keeps what it receives."""
    captured = Captured()
    port = free_port()
    controller = Controller(captured, hostname="127.0.0.1", port=port, decode_data=False)
    controller.start()
    try:
        yield port, captured
    finally:
        controller.stop()


DOVECOT_CONF = """
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
default_login_user = dovenull
default_internal_user = dovecot
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


@dataclass
class Dovecot:
    port: int
    user: str
    password: str


@contextmanager
def dovecot_server() -> Iterator[Dovecot]:
    """A real Dovecot IMAP server on a free loopback port, configured in a temp folder.

    Needs the `dovecot-imapd` Debian package (.ci/apt-packages) and root (it drops
    to the `dovecot`, `dovenull` and `nobody` users itself).
    """
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not Path(binary).exists():
        unavailable("Dovecot absent (paquet dovecot-imapd)")
    if os.geteuid() != 0:
        unavailable("Dovecot de test : il faut être root")
    root = Path(tempfile.mkdtemp(prefix="crm-dovecot-", dir="/tmp"))
    root.chmod(0o755)  # the login processes run as dovenull and must reach the sockets
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir()
    shutil.chown(root / "mail", "nobody", "nogroup")
    shutil.chown(root / "home", "nobody", "nogroup")
    (root / "users").write_text("crm:{PLAIN}secret-imap::::::\n", encoding="utf-8")
    port = free_port()
    (root / "dovecot.conf").write_text(DOVECOT_CONF.format(root=root, port=port), encoding="utf-8")
    process = subprocess.Popen(
        [binary, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    log = root / "dovecot.log"
                    text = log.read_text(encoding="utf-8") if log.exists() else ""
                    unavailable(f"Dovecot n’a pas démarré : {text[-500:]}")
                time.sleep(0.05)
        yield Dovecot(port=port, user="crm", password="secret-imap")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(root, ignore_errors=True)
