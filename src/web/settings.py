"""Typed settings read from the environment, each with a one-line description."""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


@dataclass(frozen=True)
class MailConfig:
    """The inbox: receiving (SMTP, IMAP), storage limits, outgoing SMTP overrides."""

    encryption_key: str = field(
        repr=False, metadata={"doc": "Fernet key(s) encrypting SMTP/IMAP passwords at rest"}
    )
    inbox_secret: str = field(
        repr=False, metadata={"doc": "Secret deriving each client's inbox+key address"}
    )
    listen_host: str = field(metadata={"doc": "Interface of the SMTP receiver"})
    listen_port: int = field(metadata={"doc": "Port of the SMTP receiver; 0: a free port"})
    max_message_bytes: int = field(metadata={"doc": "Largest message accepted (SMTP SIZE)"})
    max_attachment_bytes: int = field(metadata={"doc": "Largest attachment kept on disk"})
    max_send_attempts: int = field(metadata={"doc": "Attempts before a send is given up"})
    retry_min_backoff_ms: int = field(metadata={"doc": "First retry delay of a failed send"})
    imap_poll_seconds: int = field(metadata={"doc": "Interval of the IMAP poller; 0: off"})
    smtp_host: str = field(metadata={"doc": "Outgoing SMTP server for every workspace"})
    smtp_port: int = field(metadata={"doc": "Its port"})
    smtp_user: str = field(metadata={"doc": "Its login"})
    smtp_password: str = field(repr=False, metadata={"doc": "Its password"})
    smtp_from: str = field(metadata={"doc": "The From address of outgoing mail"})
    smtp_security: str = field(metadata={"doc": "starttls, tls or aucune"})


@dataclass(frozen=True)
class Settings:
    database_url: str = field(
        metadata={"doc": "PostgreSQL URL; empty: an embedded server in CRM_DATA_DIR"}
    )
    redis_url: str = field(metadata={"doc": "Redis URL for sessions and jobs; empty: in-process"})
    data_dir: Path = field(
        metadata={"doc": "Local folder of the embedded PostgreSQL and of generated secrets"}
    )
    base_url: str = field(metadata={"doc": "Public URL of the CRM, used in links sent out"})
    secret_key: str = field(repr=False, metadata={"doc": "Key signing sessions and CSRF tokens"})
    encryption_key: str = field(
        repr=False,
        metadata={
            "doc": "Master key (32 bytes, url-safe base64): personal-data keys, stored "
            "secrets (Stripe keys, SMTP passwords)"
        },
    )
    run_projections: bool = field(
        metadata={"doc": "Run the projection runners inside the web process"}
    )
    run_jobs_in_process: bool = field(
        metadata={"doc": "Run dramatiq jobs inside the web process (no Redis worker)"}
    )
    pool_size: int = field(metadata={"doc": "Connections kept open per pool"})
    migrations_dir: Path = field(metadata={"doc": "Folder of the read-model SQL migrations"})
    stripe_secret_key: str = field(
        repr=False, metadata={"doc": "Stripe secret key; overrides the keys stored per workspace"}
    )
    stripe_webhook_secret: str = field(
        repr=False, metadata={"doc": "Stripe webhook signing secret (whsec_...), for any workspace"}
    )
    stripe_api_base: str = field(metadata={"doc": "Where the Stripe SDK reaches the API"})
    stripe_timeout_seconds: float = field(metadata={"doc": "Timeout of one call to Stripe"})
    stripe_max_network_retries: int = field(
        metadata={"doc": "SDK retries of a failed call (same idempotency key)"}
    )
    stripe_webhook_tolerance_seconds: int = field(
        metadata={"doc": "Oldest accepted webhook signature timestamp (replay protection)"}
    )
    stripe_reconcile_after_minutes: int = field(
        metadata={"doc": "Age after which a pending Checkout session is checked with Stripe"}
    )
    stripe_reconcile_every_minutes: int = field(
        metadata={"doc": "Period of the reconciliation job (0: never scheduled)"}
    )
    mail: MailConfig = field(metadata={"doc": "The inbox: receiver, limits, outgoing SMTP"})
    cookie_secure: bool = field(
        default=True,
        metadata={"doc": "Mark cookies Secure (browsers accept them on http://localhost too)"},
    )
    trust_proxy: bool = field(
        default=False,
        metadata={"doc": "Behind a reverse proxy: take the client address from X-Forwarded-For"},
    )
    session_max_age: int = field(
        default=24 * 3600, metadata={"doc": "Seconds of inactivity before a staff session ends"}
    )
    template_reload: bool = field(
        default=False,
        metadata={"doc": "Re-read changed templates (development; each render checks the files)"},
    )

    @property
    def embedded(self) -> bool:
        return not self.database_url


def _default_migrations_dir() -> Path:
    # The storage plumbing ships beside the packages; found by path, never imported.
    return Path(__file__).resolve().parents[2] / "event_store" / "migrations"


def _secret_key(data_dir: Path) -> str:
    """The environment's key, or one generated once and kept in the data folder."""
    return _generated_once("CRM_SECRET_KEY", data_dir / "secret_key", secrets.token_urlsafe(48))


def _generated_once(name: str, path: Path, fresh: str) -> str:
    from_env = _env(name)
    if from_env:
        return from_env
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(fresh, encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def _encryption_key(data_dir: Path) -> str:
    """CRM_ENCRYPTION_KEY, or a 256-bit key generated once in the data folder (embedded).

    Losing it makes every personal field of the event log and the stored secrets
    (Stripe keys) unreadable: production sets it in the environment and backs it
    up apart from the database.
    """
    fresh = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    return _generated_once("CRM_ENCRYPTION_KEY", data_dir / "encryption_key", fresh)


def load_mail_config(data_dir: Path) -> MailConfig:
    return MailConfig(
        encryption_key=_encryption_key(data_dir),
        inbox_secret=_generated_once(
            "CRM_INBOX_SECRET", data_dir / "inbox_secret", secrets.token_urlsafe(32)
        ),
        listen_host=_env("CRM_MAIL_HOST", "127.0.0.1"),
        listen_port=int(_env("CRM_MAIL_PORT", "0")),
        max_message_bytes=int(_env("CRM_MAIL_MAX_MESSAGE_BYTES", str(20 * 1024 * 1024))),
        max_attachment_bytes=int(_env("CRM_MAIL_MAX_ATTACHMENT_BYTES", str(10 * 1024 * 1024))),
        max_send_attempts=int(_env("CRM_MAIL_MAX_SEND_ATTEMPTS", "8")),
        retry_min_backoff_ms=int(_env("CRM_MAIL_RETRY_MIN_BACKOFF_MS", "5000")),
        imap_poll_seconds=int(_env("CRM_IMAP_POLL_SECONDS", "60")),
        smtp_host=_env("CRM_SMTP_HOST"),
        smtp_port=int(_env("CRM_SMTP_PORT", "587")),
        smtp_user=_env("CRM_SMTP_USER"),
        smtp_password=_env("CRM_SMTP_PASSWORD"),
        smtp_from=_env("CRM_SMTP_FROM"),
        smtp_security=_env("CRM_SMTP_SECURITY", "starttls"),
    )


def load_settings() -> Settings:
    database_url = _env("DATABASE_URL")
    redis_url = _env("REDIS_URL")
    data_dir = Path(_env("CRM_DATA_DIR", ".crm-data")).resolve()
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        data_dir=data_dir,
        base_url=_env("CRM_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        secret_key=_secret_key(data_dir),
        encryption_key=_encryption_key(data_dir),
        run_projections=_env("CRM_RUN_PROJECTIONS", "1") not in ("0", "false", "non"),
        run_jobs_in_process=not redis_url,
        pool_size=int(_env("CRM_POOL_SIZE", "2")),
        migrations_dir=Path(_env("CRM_MIGRATIONS_DIR") or _default_migrations_dir()),
        mail=load_mail_config(data_dir),
        cookie_secure=_env("CRM_COOKIE_SECURE", "1") not in ("0", "false", "non"),
        trust_proxy=_env("CRM_TRUST_PROXY", "0") in ("1", "true", "oui"),
        template_reload=_env("CRM_TEMPLATE_RELOAD", "0") in ("1", "true", "oui"),
        stripe_secret_key=_env("STRIPE_SECRET_KEY"),
        stripe_webhook_secret=_env("STRIPE_WEBHOOK_SECRET"),
        stripe_api_base=_env("STRIPE_API_BASE", "https://api.stripe.com").rstrip("/"),
        stripe_timeout_seconds=float(_env("CRM_STRIPE_TIMEOUT_SECONDS", "10")),
        stripe_max_network_retries=int(_env("CRM_STRIPE_MAX_NETWORK_RETRIES", "2")),
        stripe_webhook_tolerance_seconds=int(_env("CRM_STRIPE_WEBHOOK_TOLERANCE_SECONDS", "300")),
        stripe_reconcile_after_minutes=int(_env("CRM_STRIPE_RECONCILE_AFTER_MINUTES", "30")),
        stripe_reconcile_every_minutes=int(_env("CRM_STRIPE_RECONCILE_EVERY_MINUTES", "10")),
    )


@cache
def settings() -> Settings:
    return load_settings()
