"""Which fields of an event are personal data, and whose.

An event class declares `personal_data: ClassVar[PersonalData] = PersonalData(...)`.
The storage plumbing encrypts those fields with a key of their data subject and
forgets the key when the subject is erased (crypto-shredding, see
`event_store/RGPD.md`). The domain only declares; it never sees a key or a cipher,
and its events keep their plain types.
"""

from __future__ import annotations

from typing import Any

import msgspec

#: What an erased personal field reads as, in replays, histories and the audit.
ERASED = "[effacé]"


class PersonalData(msgspec.Struct, frozen=True, kw_only=True):
    """The personal fields of an event class and the data subject they belong to.

    `subject` names the event attribute holding the id whose key encrypts the
    fields (`originator_id` for the client's own events, `client_id` for an
    activity logged on a client). `owner`, when set, names the attribute of the
    data subject who owns that key: a ticket's text is encrypted with the ticket's
    key, owned by its client, so erasing the client erases it too while later
    ticket events (a reply carries no client id) still find their key.
    `fields` are string attributes, or `attribute.leaf` for a string inside a
    struct (`adresse.rue`, `contact.email`).
    """

    fields: tuple[str, ...]
    subject: str = "originator_id"
    owner: str | None = None


def personal_data_of(event_class: type[Any]) -> PersonalData | None:
    """The declaration of an event class, or None when it carries no personal data."""
    declared = getattr(event_class, "personal_data", None)
    return declared if isinstance(declared, PersonalData) else None
