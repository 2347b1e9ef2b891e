"""Dead letters: an event that cannot go on, kept with everything needed to inspect and replay it.

A dead letter is written in the same fenced commit that acknowledges the failed input, so it is
written before, never after, the input is released. Its flat fields read well in ``redis-cli``:

``event_id``, ``reason`` (machine-readable), ``detail``, ``stage`` (the service that gave up),
``stream`` and ``entry_id`` (where the input was), ``deliveries``, ``failed_at``, and either
``envelope`` (an internal event, replayable as is) or the input as it was: ``payload`` (a
producer's raw input, or an envelope that could not be read) and every other field of the entry as
``original:<name>``, all byte for byte; plus ``errors`` (JSON field errors) and ``traceparent`` when
known.
"""

from __future__ import annotations

import time
from typing import Any

from shared.runtime.delivery import Delivery, Fields
from shared.runtime.jsonbytes import compact_json
from shared.runtime.outcome import Outcome, Publish, Step
from shared.runtime.stage import Event

# Well-known reasons; stages may add their own.
PARSE_ERROR = "parse_error"
CONTRACT_VIOLATION = "contract_violation"
TOO_LARGE = "too_large"
MAX_DELIVERIES = "max_deliveries"
TRIMMED = "trimmed"
ORIGINAL = b"original:"
"""Prefix of an unreadable entry's fields other than its payload, kept in its dead letter."""


def original_fields(entry: Fields) -> Fields:
    """An unreadable entry's fields as its dead letter keeps them: the payload (or raw envelope)
    as ``payload``, every other field under :data:`ORIGINAL`, byte for byte."""
    raw = entry.get(b"payload")
    payload_key = b"payload" if raw is not None else b"envelope"
    kept: Fields = {}
    for key, value in entry.items():
        if key == payload_key:
            kept[b"payload"] = value
        else:
            kept[ORIGINAL + key] = value
    return kept


def dead_letter_fields(
    *,
    service: str,
    delivery: Delivery,
    event_id: str,
    reason: str,
    detail: str,
    envelope: Event | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> Fields:
    fields: Fields = {
        b"event_id": event_id.encode(),
        b"reason": reason.encode(),
        b"detail": detail[:2000].encode(),
        b"stage": service.encode(),
        b"stream": delivery.stream.encode(),
        b"entry_id": delivery.entry_id.encode(),
        b"deliveries": str(delivery.count).encode(),
        b"failed_at": repr(time.time()).encode(),
    }
    if envelope is not None:
        fields[b"envelope"] = envelope.to_fields()[b"envelope"]
        if envelope.traceparent:
            fields[b"traceparent"] = envelope.traceparent.encode()
    elif delivery.fields is not None:
        fields.update(original_fields(delivery.fields))
    if errors:
        fields[b"errors"] = compact_json(errors[:20])
    return fields


def dead_letter_outcome(
    *,
    dlq_stream: str,
    service: str,
    consumer: str,
    delivery: Delivery,
    event_id: str,
    reason: str,
    detail: str,
    started_at: float,
    envelope: Event | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> Outcome:
    """An outcome that moves the entry to the dead-letter stream and closes the run record."""
    fields = dead_letter_fields(
        service=service,
        delivery=delivery,
        event_id=event_id,
        reason=reason,
        detail=detail,
        envelope=envelope,
        errors=errors,
    )
    step = Step(
        stage=service,
        outcome="dead_lettered",
        started_at=started_at,
        ended_at=time.time(),
        consumer=consumer,
        entry_id=delivery.entry_id,
        delivery=delivery.count,
        attempt=envelope.attempt if envelope else 0,
        reason=reason,
        detail=detail[:500],
    )
    return Outcome(
        event_id=event_id,
        publishes=[Publish(dlq_stream, fields)],
        step=step,
        status="dead_lettered",
        reason=reason,
        created_at=envelope.created_at if envelope else None,
    )
