"""`crm serve --workers N`: several web processes, the projections run once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from tests.conftest import settings_for
from web.cli import default_workers, main
from web.settings import settings

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "un mot de passe solide"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_workers_by_default_on_a_server_one_in_embedded_mode(tmp_path: Path) -> None:
    server = settings_for("postgresql://db/crm", tmp_path, redis_url="redis://cache/0")
    assert default_workers(server) == min(2, os.cpu_count() or 1)
    assert default_workers(settings_for("", tmp_path, redis_url="redis://cache/0")) == 1
    # Without Redis, sessions and jobs would not be shared well: one process.
    assert default_workers(settings_for("postgresql://db/crm", tmp_path, redis_url="")) == 1


def test_several_workers_need_a_database_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "data"))
    settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["serve", "--workers", "2"])
    finally:
        settings.cache_clear()
    assert result.exit_code != 0
    assert "Plusieurs processus web demandent DATABASE_URL" in result.output


def test_two_workers_serve_and_read_their_writes(
    fresh_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers answer, and a client created through them is read back at once:
    the projections run in the main process (the workers start none) and a worker
    waits for them before answering."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    monkeypatch.setenv("CRM_DATA_DIR", str(data_dir))
    settings.cache_clear()
    try:
        created = CliRunner().invoke(
            main,
            [
                "users",
                "create",
                "--email",
                "lea@atelier.fr",
                "--password",
                PASSWORD,
                "--role",
                "admin",
            ],
            catch_exceptions=False,
        )
    finally:
        settings.cache_clear()
    assert created.exit_code == 0, created.output
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database,
        "REDIS_URL": "",
        "CRM_DATA_DIR": str(data_dir),
        "CRM_COOKIE_SECURE": "0",
        "PYTHONPATH": str(ROOT / "src"),
    }
    env.pop("CRM_RUN_PROJECTIONS", None)
    # Its output goes to a file, not a pipe read at the end: a full pipe (warnings at
    # each worker's start fill one) would block the server's writes, and the server.
    log_path = tmp_path / "serve.log"
    log_file = log_path.open("w", encoding="utf-8")
    server = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(900):
            try:
                if httpx.get(f"{base}/api/ping", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None
            time.sleep(0.1)
        else:
            pytest.fail("crm serve --workers 2 did not answer")
        with httpx.Client(base_url=base, timeout=30) as client:
            login = client.post(
                "/api/auth/login", json={"email": "lea@atelier.fr", "password": PASSWORD}
            )
            assert login.status_code == 201, login.text
            client.headers["x-csrftoken"] = client.get("/api/auth/me").json()["csrfToken"]
            for n in range(4):  # over both workers (connections are not kept by the pool)
                made = client.post("/api/clients", json={"nom": f"Atelier {n}"})
                assert made.status_code == 201, made.text
                read = client.get(f"/api/clients/{made.json()['id']}")
                assert read.json()["nom"] == f"Atelier {n}"
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log_file.close()
    output = log_path.read_text(encoding="utf-8")
    print(output[-20_000:])  # shown when the test fails: the server's own account
    assert "2 processus web." in output
