"""Turning a producer's raw ``payload`` field into the first envelope of an event.

This is the untrusted edge: anything a producer can type into redis-cli ends up here. Every way
it can be wrong becomes a :class:`ContractError` with a machine-readable reason, before any LLM
sees it:

* ``too_large``: the payload exceeds ``max_payload_bytes``.
* ``parse_error``: not UTF-8, not JSON, ``NaN``/``Infinity``, duplicate keys, absurd nesting.
* ``contract_violation``: valid JSON that breaks :class:`CustomerRequest` (missing or empty text,
  wrong types, unknown fields).

The event id is the payload's ``event_id``; else an ``event_id`` field beside the payload (a replay
of a dead letter that had none keeps its id that way); else ``evt-<entry id>``. A payload too large
or too broken to parse still keeps a top-level ``event_id`` that a bounded scan can read, so its
dead letter, ``baton post --wait`` and a replay all name the event the producer named.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import orjson
from pydantic import ValidationError

from shared.errors import ContractError
from shared.pipeline.contracts import CustomerRequest
from shared.pipeline.envelope import Envelope, Fields, validation_errors
from shared.runtime.delivery import default_event_id as default_event_id  # re-exported

_EVENT_ID = re.compile(r"^[\w.:@-]{1,128}$")
# A JSON string (escapes included) or a bracket: enough to track nesting without parsing.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]]')
_ID_VALUE = re.compile(rb'\s*:\s*"([\w.:@-]{1,128})"')
_ASCII_ID = re.compile(r"[\w.:@-]{1,128}", re.ASCII)
SCAN_BYTES = 1 << 20
"""How much of an unparseable payload is scanned for its ``event_id``."""


def decode_submission(fields: Fields, entry_id: str, max_bytes: int) -> Envelope:
    """Validate a raw intake entry and wrap it in an envelope addressed to intake."""
    raw = fields.get(b"payload")
    fallback_id = _valid_id(fields.get(b"event_id")) or default_event_id(entry_id)
    if raw is None:
        raise ContractError(
            "entry has no 'payload' field (post with: XADD <prefix>:intake * payload '<json>')",
            raw=_render_fields(fields),
            event_id=fallback_id,
        )
    if len(raw) > max_bytes:
        raise ContractError(
            f"payload is {len(raw)} bytes, over the {max_bytes}-byte limit",
            reason="too_large",
            raw=raw[:1024].decode("utf-8", "replace"),
            event_id=scan_event_id(raw) or fallback_id,
        )
    data = _parse_json(raw, fallback_id)
    event_id = _declared_event_id(data) or fallback_id
    try:
        request = CustomerRequest.model_validate(data)
    except ValidationError as exc:
        raise ContractError(
            f"payload breaks the request contract: {_summarise(exc)}",
            errors=validation_errors(exc),
            raw=raw.decode("utf-8"),
            event_id=event_id,
        ) from exc
    # The entry id's timestamp is the time Redis accepted the post: stable across redeliveries,
    # so time spent waiting in the intake backlog counts against the event's deadline.
    posted_at = int(entry_id.split("-", 1)[0]) / 1000
    now = time.time()
    return Envelope(
        event_id=request.event_id or fallback_id,
        stage="producer",
        payload=request.model_dump(mode="json", exclude_none=True),
        budget_tokens=request.budget_tokens,
        budget_usd=request.budget_usd,
        created_at=posted_at,
        produced_at=now,
    )


def event_id_of(fields: Fields, entry_id: str, max_bytes: int) -> str:
    """The event id intake gives this entry, whether it goes on or is dead-lettered: the same
    naming as :func:`decode_submission`, without validating the contract (a valid request's
    ``event_id`` is the declared one, which the contract checks against the same pattern)."""
    raw = fields.get(b"payload")
    fallback = _valid_id(fields.get(b"event_id")) or default_event_id(entry_id)
    if raw is None:
        return fallback
    if len(raw) > max_bytes:
        return scan_event_id(raw) or fallback
    quick = _quick_event_id(raw)
    if quick is not None:
        return quick
    try:
        data = _parse_json(raw, fallback)
    except ContractError as exc:
        return exc.event_id or fallback
    return _declared_event_id(data) or fallback


def scan_event_id(raw: bytes) -> str | None:
    """The top-level ``event_id`` of a payload that is not parsed, if its first
    :data:`SCAN_BYTES` show exactly one: a linear, string-aware scan of brackets, never a parse.

    A key named twice is ambiguous, so neither value is believed.
    """
    window = raw[:SCAN_BYTES]
    depth = 0
    found: list[bytes] = []
    for token in _TOKEN.finditer(window):
        text = token.group()
        if text in (b"{", b"["):
            depth += 1
        elif text in (b"}", b"]"):
            depth -= 1
        elif depth == 1 and text == b'"event_id"':
            value = _ID_VALUE.match(window, token.end())
            found.append(value[1] if value else b"")
    return found[0].decode() if len(found) == 1 and found[0] else None


def _quick_event_id(raw: bytes) -> str | None:
    """The common case, cheaply: a document orjson reads as an object that names ``event_id``
    once, with an ASCII id of the allowed shape. Intake's stricter reading gives the same id
    (a document it refuses is scanned for that one key); None sends everything else the exact
    way."""
    if raw.count(b'"event_id"') != 1:
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    value = data.get("event_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and _ASCII_ID.fullmatch(value) else None


def _valid_id(raw: bytes | None) -> str | None:
    text = raw.decode("utf-8", "replace") if raw is not None else ""
    return text if _EVENT_ID.match(text) else None


def _parse_json(raw: bytes, event_id: str) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(
            f"payload is not valid UTF-8 (byte {exc.start})",
            reason="parse_error",
            raw=raw.decode("utf-8", "replace"),
            event_id=scan_event_id(raw) or event_id,
        ) from exc
    try:
        return json.loads(
            text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError) as exc:
        raise ContractError(
            f"payload is not valid JSON: {_first_line(exc)}",
            reason="parse_error",
            raw=text,
            event_id=scan_event_id(raw) or event_id,
        ) from exc


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _declared_event_id(data: Any) -> str | None:
    if isinstance(data, dict):
        value = data.get("event_id")
        if isinstance(value, str) and _EVENT_ID.match(value):
            return value
    return None


def _summarise(exc: ValidationError) -> str:
    parts = [f"{e['loc']}: {e['msg']}" for e in validation_errors(exc)[:5]]
    return "; ".join(parts)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _render_fields(fields: Fields) -> str:
    return " ".join(f"{k.decode('utf-8', 'replace')}={v[:200]!r}" for k, v in fields.items())
