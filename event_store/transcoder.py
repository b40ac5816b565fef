"""Event payloads encoded as JSON by msgspec, decoded to the event's own field types.

Why not the library's JSONTranscoder: it walks every value in Python and tags
non-JSON types (`{"_type_": "uuid_hex", ...}`). msgspec encodes UUID, Decimal,
datetime, date, enums and Structs natively in C, and decodes them back to their
types from the event class's annotations (see `mapper.MsgspecMapper`). The
stored JSON stays plain and readable by reporting tools (`state::jsonb`).
"""

from __future__ import annotations

from typing import Any

import msgspec
from eventsourcing.persistence import Transcoder, Transcoding


class MsgspecTranscoder(Transcoder):
    def __init__(self) -> None:
        self._encoder = msgspec.json.Encoder(decimal_format="string", uuid_format="canonical")
        self._decoder = msgspec.json.Decoder()

    def register(self, transcoding: Transcoding) -> None:
        msg = "MsgspecTranscoder encodes types natively; it takes no transcodings."
        raise NotImplementedError(msg)

    def encode(self, obj: Any) -> bytes:
        return self._encoder.encode(obj)

    def decode(self, data: bytes) -> Any:
        """Untyped decode (UUIDs, decimals and dates stay strings)."""
        return self._decoder.decode(data)

    def decode_as(self, data: bytes, decoder: msgspec.json.Decoder[Any]) -> Any:
        return decoder.decode(data)
