"""One delivery of a stream entry to this worker."""

from __future__ import annotations

from dataclasses import dataclass

Fields = dict[bytes, bytes]
"""A stream entry's fields, as Redis returns them."""


@dataclass(frozen=True)
class Delivery:
    """A stream entry as this consumer received it.

    Attributes:
        stream: the input stream key.
        entry_id: the stream entry id (``1700000000000-0``).
        fields: the entry's raw fields; ``None`` when the entry was trimmed from the stream while
            still pending (Redis then returns the id with no body).
        count: the delivery count Redis keeps for the entry (1 on the first delivery).
    """

    stream: str
    entry_id: str
    fields: Fields | None
    count: int = 1


def as_text(value: bytes | str) -> str:
    """Redis replies come as bytes; ids and names are ASCII."""
    return value.decode() if isinstance(value, bytes) else value


def default_event_id(entry_id: str) -> str:
    """The event id of an entry that names none: stable across redeliveries of the entry."""
    return f"evt-{entry_id}"
