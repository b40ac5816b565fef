"""A Mapper that decodes each event's JSON straight into its field types.

The library's Mapper decodes state without knowing the event class. This one
resolves the topic first, then decodes with a msgspec decoder typed by a
TypedDict built once per event class from its dataclass annotations, so a
UUID comes back a UUID and an amount a Decimal, in one C pass. Events with a
class_version above 1 take the slow path: untyped decode, upcast, convert.

Personal data (crypto-shredding, see RGPD.md): the fields an event class declares
in `personal_data` are stored as `enc:v1:<base64>` strings, AES-GCM encrypted
with the data subject's key from the keyring; reading them back decrypts them,
or gives "[effacé]" once the subject's key is destroyed. Events without such a
declaration keep the untouched fast path.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import typing
from functools import cache
from typing import Any, TypedDict
from uuid import UUID

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import (
    Cipher,
    Compressor,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
)
from eventsourcing.utils import get_topic, resolve_topic

from crm_core.personal import ERASED, personal_data_of
from event_store.keyring import Keyring, KeyringError
from event_store.transcoder import MsgspecTranscoder

_ENVELOPE = frozenset({"originator_id", "originator_version"})
SEALED = "enc:v1:"
_SEALED_LENGTH = len(SEALED)
_NONCE = 12


@cache
def _state_type(cls: type[Any]) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {
        field.name: hints.get(field.name, Any)
        for field in dataclasses.fields(cls)
        if field.name not in _ENVELOPE
    }
    fields["class_version"] = int
    return TypedDict(f"{cls.__qualname__}State", fields, total=False)  # type: ignore[operator]


@cache
def _decoder(cls: type[Any]) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(_state_type(cls))


class _Plan(msgspec.Struct, frozen=True):
    """An event class's personal fields, grouped by top-level attribute."""

    subject: str
    owner: str | None
    # (attribute, leaves): leaves is () for a string attribute, else the string
    # fields of the struct held by the attribute.
    groups: tuple[tuple[str, tuple[str, ...]], ...]


@cache
def _plan(cls: type[Any]) -> _Plan | None:
    declared = personal_data_of(cls)
    if declared is None:
        return None
    groups: dict[str, list[str]] = {}
    for path in declared.fields:
        top, _, leaf = path.partition(".")
        groups.setdefault(top, [])
        if leaf:
            groups[top].append(leaf)
    return _Plan(
        subject=declared.subject,
        owner=declared.owner,
        groups=tuple((top, tuple(leaves)) for top, leaves in groups.items()),
    )


def _aad(subject: UUID, path: str) -> bytes:
    # Binds a ciphertext to its subject and field: it cannot be pasted elsewhere.
    return subject.bytes + path.encode()


class MsgspecMapper(Mapper[UUID]):
    def __init__(
        self,
        transcoder: Transcoder,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        super().__init__(transcoder, compressor, cipher)
        #: Set by the CRM's infrastructure factory (event_store.factory).
        self.keyring = keyring

    # --- writing ------------------------------------------------------------------
    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        plan = _plan(type(domain_event))
        if plan is None:
            return super().to_stored_event(domain_event)
        state = dict(vars(domain_event))
        subject = state[plan.subject]
        owner = state.get(plan.owner) if plan.owner else None
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        key: AESGCM | None = None
        if not plan.groups and owner is not None:
            # A declaration without fields hands the subject's key to its owner
            # (an email « À trier » attached to a client).
            self._adopt(subject, owner)
        for top, leaves in plan.groups:
            value = state[top]
            if not leaves:
                if isinstance(value, tuple | list):  # a tuple of strings: each sealed
                    if any(value):
                        key = key or self._key_for_writing(subject, owner)
                        state[top] = [
                            self._seal(key, subject, top, item) if item else item for item in value
                        ]
                elif value:
                    key = key or self._key_for_writing(subject, owner)
                    state[top] = self._seal(key, subject, top, value)
                continue
            inner = msgspec.structs.asdict(value) if isinstance(value, msgspec.Struct) else value
            inner = dict(inner)
            for leaf in leaves:
                if inner.get(leaf):
                    key = key or self._key_for_writing(subject, owner)
                    inner[leaf] = self._seal(key, subject, f"{top}.{leaf}", inner[leaf])
            state[top] = inner
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        stored_state = self.transcoder.encode(state)
        if self.compressor:
            stored_state = self.compressor.compress(stored_state)
        if self.cipher:
            stored_state = self.cipher.encrypt(stored_state)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(type(domain_event)),
            state=stored_state,
        )

    def _key_for_writing(self, subject: UUID, owner: UUID | None) -> AESGCM:
        if self.keyring is None:
            msg = (
                "Données personnelles sans trousseau de clés : configurez PERSISTENCE_MODULE="
                "event_store.factory:CrmPostgresFactory."
            )
            raise KeyringError(msg)
        return self.keyring.for_writing(subject, owner)

    def _adopt(self, subject: UUID, owner: UUID) -> None:
        if self.keyring is None:
            return
        adopt = getattr(self.keyring, "adopt", None)
        if adopt is not None:
            adopt(subject, owner)

    @staticmethod
    def _seal(key: AESGCM, subject: UUID, path: str, value: str) -> str:
        if not isinstance(value, str):
            msg = f"Donnée personnelle {path} : seules les chaînes se chiffrent ({type(value)})."
            raise TypeError(msg)
        nonce = os.urandom(_NONCE)
        sealed = key.encrypt(nonce, value.encode(), _aad(subject, path))
        return SEALED + base64.urlsafe_b64encode(nonce + sealed).decode()

    # --- reading ------------------------------------------------------------------
    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        return self._decode(stored_event, open_personal=True)

    def to_domain_event_sealed(self, stored_event: StoredEvent) -> Any:
        """The event with its personal fields left as stored (`enc:v1:...`), for a
        reader that never looks at them (the audit journal, the analytics): their
        decryption is most of the cost of decoding an event."""
        return self._decode(stored_event, open_personal=False)

    def _decode(self, stored_event: StoredEvent, *, open_personal: bool) -> Any:
        transcoder = self.transcoder
        if not isinstance(transcoder, MsgspecTranscoder):
            return super().to_domain_event(stored_event)
        cls = resolve_topic(stored_event.topic)
        state_bytes = stored_event.state
        if self.cipher:
            state_bytes = self.cipher.decrypt(state_bytes)
        if self.compressor:
            state_bytes = self.compressor.decompress(state_bytes)
        class_version = getattr(cls, "class_version", 1)
        try:
            if class_version == 1:
                state = transcoder.decode_as(state_bytes, _decoder(cls))
            else:
                state = transcoder.decode(state_bytes)
                from_version = state.pop("class_version", 1)
                while from_version < class_version:
                    getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
                    from_version += 1
                state = msgspec.convert(state, _state_type(cls), strict=False)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            msg = (
                f"Failed to decode event {stored_event.topic} "
                f"{stored_event.originator_id} v{stored_event.originator_version}: {error}"
            )
            raise MapperDeserialisationError(msg) from error
        state.pop("class_version", None)
        state["originator_id"] = stored_event.originator_id
        state["originator_version"] = stored_event.originator_version
        plan = _plan(cls) if open_personal else None
        if plan is not None:
            self._open_all(plan, state, stored_event)
        domain_event = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", state)
        return domain_event

    def _open_all(self, plan: _Plan, state: dict[str, Any], stored: StoredEvent) -> None:
        subject: UUID = state[plan.subject]
        opener = _Opener(self.keyring, subject, stored)
        for top, leaves in plan.groups:
            value = state.get(top)
            if not leaves:
                if isinstance(value, str) and value.startswith(SEALED):
                    state[top] = opener.open(top, value)
                elif isinstance(value, tuple | list) and any(
                    isinstance(item, str) and item.startswith(SEALED) for item in value
                ):
                    opened = [
                        opener.open(top, item)
                        if isinstance(item, str) and item.startswith(SEALED)
                        else item
                        for item in value
                    ]
                    state[top] = tuple(opened) if isinstance(value, tuple) else opened
                continue
            changes = {
                leaf: opener.open(f"{top}.{leaf}", sealed)
                for leaf in leaves
                if isinstance(sealed := getattr(value, leaf, None), str)
                and sealed.startswith(SEALED)
            }
            if changes:
                state[top] = msgspec.structs.replace(value, **changes)  # type: ignore[type-var]


class _Opener:
    """Decrypts the sealed fields of one event, fetching the subject's key once."""

    __slots__ = ("_fetched", "_key", "_subject_bytes", "keyring", "stored", "subject")

    def __init__(self, keyring: Keyring | None, subject: UUID, stored: StoredEvent) -> None:
        self.keyring = keyring
        self.subject = subject
        self.stored = stored
        self._fetched = False
        self._key: AESGCM | None = None
        self._subject_bytes = b""

    def open(self, path: str, sealed: str) -> str:
        if not self._fetched:
            if self.keyring is None:
                msg = "Données personnelles chiffrées mais aucun trousseau de clés configuré."
                raise KeyringError(msg)
            self._key = self.keyring.for_reading(self.subject)
            self._subject_bytes = self.subject.bytes
            self._fetched = True
        if self._key is None:
            return ERASED
        # What base64.urlsafe_b64decode does, without its three Python calls (a replay
        # opens millions of fields).
        raw = binascii.a2b_base64(sealed[_SEALED_LENGTH:].replace("-", "+").replace("_", "/"))
        try:
            return self._key.decrypt(
                raw[:_NONCE], raw[_NONCE:], self._subject_bytes + path.encode()
            ).decode()
        except InvalidTag as error:
            # The key exists but the ciphertext does not match: edited in the database.
            msg = (
                f"Donnée personnelle {path} illisible dans {self.stored.topic} "
                f"{self.stored.originator_id} v{self.stored.originator_version}"
            )
            raise MapperDeserialisationError(msg) from error
