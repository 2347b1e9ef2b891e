"""What each event became: its run record and its entry in ``responses``, ``escalations`` or the
dead-letter stream. Read-only: it is also how shadow replay reads the live pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from shared.errors import ContractError
from shared.pipeline.keys import Keys
from shared.pipeline.submission import decode_submission, default_event_id
from shared.runtime.delivery import as_text
from shared.runtime.outcome import TERMINAL_STATUSES
from shared.runtime.runrecord import load_run

LOST = "lost"  # no terminal run record when the run stopped waiting
NO_RECORD = "no_record"  # no run record at all (never seen, or expired)
READ_CHUNK = 500

Entries = list[tuple[bytes, dict[bytes, bytes]]]


@dataclass(frozen=True)
class Observed:
    """One event as the pipeline left it.

    Attributes:
        status: ``responded``, ``escalated``, ``dead_lettered``, ``in_progress``,
            :data:`LOST` or :data:`NO_RECORD`.
        reason: why the run ended (escalation or dead-letter reason).
        response: the ``responses`` entry (a ``FinalResponse``), for responded events.
        packet: the escalation packet, for escalated events.
        dead_letter: ``reason``, ``stage`` and ``detail`` of the dead letter.
    """

    event_id: str
    status: str
    reason: str | None = None
    created_at: float | None = None
    updated_at: float | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    response: dict[str, Any] | None = None
    packet: dict[str, Any] | None = None
    dead_letter: dict[str, str] | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def latency_s(self) -> float | None:
        """From the post (the intake entry's timestamp) to the final outcome."""
        if not self.terminal or self.created_at is None or self.updated_at is None:
            return None
        return max(0.0, self.updated_at - self.created_at)

    def last_decision(self, stage: str) -> dict[str, Any]:
        """The decision of ``stage``'s last successful attempt (empty if it never succeeded)."""
        for step in reversed(self.steps):
            if step.get("stage") == stage and step.get("outcome") == "ok":
                return cast(dict[str, Any], step.get("decision", {}))
        return {}


@dataclass(frozen=True)
class Decisions:
    """The decisions shadow replay compares and the scoring reads, in one flat record."""

    status: str
    reason: str | None
    category: str | None
    priority: str | None
    route: str | None  # triage's route: respond, clarify or escalate
    mode: str | None  # the response's mode: answer or clarify
    language: str | None

    @classmethod
    def of(cls, observed: Observed) -> Decisions:
        triage = observed.last_decision("triage")
        response = observed.response or {}
        return cls(
            status=observed.status,
            reason=observed.reason,
            category=triage.get("category"),
            priority=triage.get("priority"),
            route=triage.get("route"),
            mode=response.get("mode"),
            language=observed.last_decision("intake").get("language"),
        )


def submitted_event_id(payload: bytes, entry_id: str, max_bytes: int) -> str:
    """The event id intake gives a posted payload: its own ``event_id``, else one derived from
    the entry id (the same rule, since it is the same code)."""
    try:
        return decode_submission({b"payload": payload}, entry_id, max_bytes).event_id
    except ContractError as exc:
        return exc.event_id or default_event_id(entry_id)


async def collect(
    redis: Redis,
    keys: Keys,
    event_ids: Iterable[str],
    *,
    lost: Iterable[str] = (),
    since: str = "-",
) -> dict[str, Observed]:
    """Each event's run record and final entry (streams read from stream id ``since``)."""
    wanted = list(dict.fromkeys(event_ids))
    lost_ids = set(lost)
    records: dict[str, dict[str, Any] | None] = {}
    for start in range(0, len(wanted), READ_CHUNK):
        chunk = wanted[start : start + READ_CHUNK]
        found = await asyncio.gather(*(load_run(redis, keys, e) for e in chunk))
        records.update(zip(chunk, found, strict=True))
    finals = await _final_entries(redis, keys, set(wanted), since)
    observed: dict[str, Observed] = {}
    for event_id in wanted:
        record = records[event_id]
        if record is None:
            status = LOST if event_id in lost_ids else NO_RECORD
            observed[event_id] = Observed(event_id, status)
            continue
        # Lost means "no outcome in time", even if one came while the run was stopping.
        status = LOST if event_id in lost_ids else record.get("status", "in_progress")
        observed[event_id] = Observed(
            event_id=event_id,
            status=status,
            reason=record.get("reason"),
            created_at=record.get("created_at"),
            updated_at=record.get("updated_at"),
            steps=record["steps"],
            **finals.get(event_id, {}),
        )
    return observed


async def _final_entries(
    redis: Redis, keys: Keys, wanted: set[str], since: str
) -> dict[str, dict[str, Any]]:
    """``response`` / ``packet`` / ``dead_letter`` per event id, the first entry of each."""
    finals: dict[str, dict[str, Any]] = {}
    for stream in (keys.responses, keys.escalations, keys.dlq):
        async for _, fields in read_entries(redis, stream, since):
            event_id = as_text(fields.get(b"event_id", b""))
            if event_id not in wanted or event_id in finals:
                continue
            finals[event_id] = _final(stream, keys, fields)
    return finals


def _final(stream: str, keys: Keys, fields: dict[bytes, bytes]) -> dict[str, Any]:
    if stream == keys.responses:
        return {"response": orjson.loads(fields[b"response"])}
    if stream == keys.escalations:
        return {"packet": orjson.loads(fields[b"packet"])}
    names = ("reason", "stage", "detail")
    return {"dead_letter": {n: as_text(fields.get(n.encode(), b"")) for n in names}}


async def read_entries(
    redis: Redis, stream: str, since: str = "-", until: str = "+"
) -> AsyncGenerator[tuple[str, dict[bytes, bytes]], None]:
    """(entry id, fields) of ``stream`` from ``since`` to ``until``, oldest first, in chunks."""
    start = since
    while True:
        entries = cast(Entries, await redis.xrange(stream, min=start, max=until, count=READ_CHUNK))
        for entry_id, fields in entries:
            yield as_text(entry_id), fields
        if len(entries) < READ_CHUNK:
            return
        start = "(" + as_text(entries[-1][0])
