"""compose.yaml and the Dockerfile describe a deployment the code can actually run.

Docker is not available where the tests run, so these read the files: every
service runs a real `crm` command with real options, secrets have no default,
and the production shape (healthchecks, start order, volumes) holds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from web.cli import main

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("postgres", "redis", "web", "projections", "worker")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|KEY|TOKEN")
# `${NAME}` or `${NAME:?message}` / `${NAME?message}`: required, no default.
REQUIRED_VARIABLE = re.compile(r"^\$\{[A-Z0-9_]+(:?\?[^}]*)?\}$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


def _crm_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: service for name, service in compose["services"].items() if "build" in service}


def _resolve(arguments: list[str]) -> click.Command:
    """The click command that `crm <arguments>` runs; fails on an unknown name or option."""
    command: click.Command = main
    index = 0
    while isinstance(command, click.Group) and index < len(arguments):
        name = arguments[index]
        assert name in command.commands, f"`crm {' '.join(arguments)}`: no command {name!r}"
        command = command.commands[name]
        index += 1
    assert not isinstance(command, click.Group), f"`crm {' '.join(arguments)}` names a group"
    options = {opt for param in command.params for opt in param.opts}
    for argument in arguments[index:]:
        if argument.startswith("--"):
            assert argument in options, f"`crm {' '.join(arguments)}`: no option {argument}"
    return command


def test_the_five_services_are_declared(compose: dict[str, Any]) -> None:
    assert set(SERVICES) <= set(compose["services"])


def test_every_crm_service_runs_a_real_crm_subcommand(compose: dict[str, Any]) -> None:
    services = _crm_services(compose)
    assert {"web", "projections", "worker"} <= set(services)
    for service in services.values():
        _resolve(list(service["command"]))
    assert _resolve(services["web"]["command"]).name == "serve"
    assert "--no-projections" in services["web"]["command"]
    web = list(services["web"]["command"])
    # Inside its container the web server must listen beyond loopback to be reached.
    assert web[web.index("--host") + 1] == "0.0.0.0"  # noqa: S104
    assert list(services["projections"]["command"]) == ["projections", "run"]
    assert list(services["worker"]["command"]) == ["worker"]


def test_the_image_runs_crm_as_its_entry_point() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    assert "uv sync --frozen --no-dev" in dockerfile
    assert 'ENTRYPOINT ["crm"]' in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users, "the image must not run as root"
    assert users[-1] not in ("root", "0")


def test_no_secret_has_a_literal_default(compose: dict[str, Any]) -> None:
    checked = 0
    for name, service in compose["services"].items():
        environment = service.get("environment") or {}
        assert isinstance(environment, dict), f"{name}: environment as a mapping, please"
        for variable, value in environment.items():
            if SECRET_NAME.search(variable):
                checked += 1
                assert REQUIRED_VARIABLE.match(str(value)), f"{name}.{variable} = {value!r}"
        url = str(environment.get("DATABASE_URL", ""))
        if "@" in url:
            password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
            assert REQUIRED_VARIABLE.match(password), f"{name}: DATABASE_URL password {password!r}"
    assert checked >= 2  # CRM_SECRET_KEY and POSTGRES_PASSWORD at least


def test_the_crm_services_get_their_configuration(compose: dict[str, Any]) -> None:
    for name, service in _crm_services(compose).items():
        environment = service["environment"]
        for variable in ("DATABASE_URL", "REDIS_URL", "CRM_SECRET_KEY"):
            assert variable in environment, f"{name} lacks {variable}"


def test_processes_start_after_what_they_need(compose: dict[str, Any]) -> None:
    for name, service in _crm_services(compose).items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on with conditions"
        assert depends_on["postgres"]["condition"] == "service_healthy"
        for needed in depends_on.values():
            assert needed["condition"] in ("service_healthy", "service_completed_successfully")
    assert "redis" in compose["services"]["worker"]["depends_on"]
    assert "redis" in compose["services"]["web"]["depends_on"]


def test_health_is_checked_where_it_can_be(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("postgres", "redis", "web"):
        assert "healthcheck" in services[name], name
    assert any("/health" in part for part in services["web"]["healthcheck"]["test"])


def test_postgres_is_recent_and_keeps_its_data_in_a_named_volume(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    major = re.search(r"postgres:(\d+)", postgres["image"])
    assert major and int(major.group(1)) >= 16
    volume = next(v.split(":")[0] for v in postgres["volumes"] if "/var/lib/postgresql" in v)
    assert volume in compose["volumes"]
