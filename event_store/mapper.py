"""A Mapper that decodes each event's JSON straight into its field types.

The library's Mapper decodes state without knowing the event class. This one
resolves the topic first, then decodes with a msgspec decoder typed by a
TypedDict built once per event class from its dataclass annotations, so a
UUID comes back a UUID and an amount a Decimal, in one C pass. Events with a
class_version above 1 take the slow path: untyped decode, upcast, convert.
"""

from __future__ import annotations

import dataclasses
import typing
from functools import cache
from typing import Any, TypedDict
from uuid import UUID

import msgspec
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent
from eventsourcing.utils import resolve_topic

from event_store.transcoder import MsgspecTranscoder

_ENVELOPE = frozenset({"originator_id", "originator_version"})


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


class MsgspecMapper(Mapper[UUID]):
    def to_domain_event(self, stored_event: StoredEvent) -> Any:
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
        domain_event = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", state)
        return domain_event
