"""The Stripe webhook signing secrets of this process: the environment's and the stored ones.

The read side keeps the workspaces' secrets sealed; opening one (AES-GCM with a key
derived per context) is cached per process, keyed by the sealed text itself. A
secret saved again seals to another text, so a replaced secret is never served from
the cache: each delivery still reads the workspace's current row, one primary-key
lookup, and only the decryption is spared.
"""

from __future__ import annotations

import logging
import threading
from uuid import UUID

from adapters.stripe.webhooks import WebhookSecret
from crm_core.billing.application import BillingApplication
from crm_core.errors import DomainError
from projections.payments import PaymentsView, StoredWebhookSecret

log = logging.getLogger(__name__)

# Two modes per workspace; past this many entries the cache starts again (secrets
# replaced over a long uptime would otherwise pile up).
_CACHE_LIMIT = 10_000


class StoredWebhookSecrets:
    def __init__(
        self, billing: BillingApplication, payments: PaymentsView, environment_secret: str
    ) -> None:
        self._billing = billing
        self._payments = payments
        self._environment = [WebhookSecret(environment_secret)] if environment_secret else []
        self._opened: dict[tuple[UUID, str, str], str] = {}
        self._lock = threading.Lock()

    def from_environment(self) -> list[WebhookSecret]:
        return self._environment

    def of_workspace(self, workspace_id: UUID) -> list[WebhookSecret]:
        return self._open(self._payments.webhook_secrets_of(workspace_id))

    def of_every_workspace(self) -> list[WebhookSecret]:
        return self._open(self._payments.webhook_secrets())

    def _open(self, stored: list[StoredWebhookSecret]) -> list[WebhookSecret]:
        found: list[WebhookSecret] = []
        for row in stored:
            key = (row.workspace_id, row.mode.value, row.sealed)
            secret = self._opened.get(key)
            if secret is None:
                try:
                    secret = self._billing.open_webhook_secret(
                        row.workspace_id, row.mode, row.sealed
                    )
                except DomainError:
                    log.warning("Secret de webhook illisible pour l’espace %s", row.workspace_id)
                    continue
                with self._lock:
                    if len(self._opened) >= _CACHE_LIMIT:
                        self._opened.clear()
                    self._opened[key] = secret
            found.append(WebhookSecret(secret, row.workspace_id))
        return found
