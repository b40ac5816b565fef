"""The CRM's infrastructure factory: the library's PostgreSQL one, plus the keyring.

Named by PERSISTENCE_MODULE (`event_store.factory:CrmPostgresFactory`), so every
application, runner and read model of the CRM gets it through configuration. It
hands the msgspec mapper a keyring that shares the factory's connection pool and
the master key from CRM_ENCRYPTION_KEY (see RGPD.md).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, Transcoder
from eventsourcing.popo import POPOFactory
from eventsourcing.postgres import PostgresFactory

from event_store.keyring import MemoryKeyring, SubjectKeyring, parse_master_key
from event_store.mapper import MsgspecMapper

ENCRYPTION_KEY = "CRM_ENCRYPTION_KEY"


class CrmPostgresFactory(PostgresFactory):
    _keyring: SubjectKeyring | None = None

    def keyring(self) -> SubjectKeyring:
        if self._keyring is None:
            text = self.env.get(ENCRYPTION_KEY, "")
            database = ":".join(
                self.env.get(name, "")
                for name in ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DBNAME")
            )
            self._keyring = SubjectKeyring(
                self.datastore, parse_master_key(text) if text else None, database
            )
            if self.env_create_table():
                self._keyring.create_table()
        return self._keyring

    def erase_subject(self, subject_id: UUID) -> int:
        """The vault of crm_core.ports.PersonalDataVault: destroy a subject's keys."""
        return self.keyring().erase(subject_id)

    def mapper(
        self,
        transcoder: Transcoder | None = None,
        mapper_class: type[Mapper[Any]] | None = None,
    ) -> Mapper[Any]:
        mapper = super().mapper(transcoder, mapper_class)
        if isinstance(mapper, MsgspecMapper):
            mapper.keyring = self.keyring()
        return mapper


class CrmPopoFactory(POPOFactory):
    """The library's in-memory store (unit tests) with an in-memory keyring."""

    _keyring: MemoryKeyring | None = None

    def keyring(self) -> MemoryKeyring:
        if self._keyring is None:
            self._keyring = MemoryKeyring()
        return self._keyring

    def erase_subject(self, subject_id: UUID) -> int:
        return self.keyring().erase(subject_id)

    def mapper(
        self,
        transcoder: Transcoder | None = None,
        mapper_class: type[Mapper[Any]] | None = None,
    ) -> Mapper[Any]:
        mapper = super().mapper(transcoder, mapper_class)
        if isinstance(mapper, MsgspecMapper):
            mapper.keyring = self.keyring()
        return mapper
