"""Completeness: every posted event ended exactly once, and nothing is left pending.

A run is complete when each posted ``event_id`` appears exactly once across the terminal streams
(``responses``, ``escalations``, ``dlq``) since the run began, no other id appears there, every
consumer group has an empty pending list and has read its whole stream, and nothing went to the
dead-letter stream (the benchmark posts only valid events). Speed never excuses a failure here.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import Redis

from services.pipeline import PIPELINE
from shared.ops.bench import streams
from shared.pipeline.keys import Keys

TERMINALS = ("responses", "escalations", "dlq")


@dataclass
class Completeness:
    posted: int
    arrived: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    pending: int = 0
    unread: int = 0
    ended_in: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        clean = not (self.lost or self.duplicated or self.unexpected)
        return clean and not (self.pending or self.unread) and not self.ended_in.get("dlq")

    def problems(self) -> list[str]:
        counts = (
            ("lost", self.lost),
            ("duplicated", self.duplicated),
            ("unexpected ids", self.unexpected),
            ("left pending", self.pending),
            ("left unread", self.unread),
            ("dead-lettered", self.ended_in.get("dlq", 0)),
        )
        return [f"{n} {what}" for what, n in counts if n]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "problems": self.problems()}


async def terminal_marks(redis: Redis, keys: Keys) -> dict[str, bytes | str]:
    """The current last entry id of each terminal stream: where a run's outcomes start."""
    marks: dict[str, bytes | str] = {}
    for name in TERMINALS:
        marks[name] = await streams.last_id(redis, keys.stream(name)) or "0-0"
    return marks


async def _event_ids_after(redis: Redis, stream: str, mark: bytes | str) -> list[str]:
    ids: list[str] = []
    cursor: bytes | str = mark
    for _ in range(100_000):  # bounded: 1,000 entries a call
        entries = await streams.entries(redis, stream, f"({_text(cursor)}", 1000)
        if not entries:
            break
        ids += [fields.get(b"event_id", b"?").decode() for _, fields in entries]
        cursor = entries[-1][0]
    return ids


async def backlog(redis: Redis, keys: Keys) -> tuple[int, int]:
    """(pending entries, entries not yet delivered) summed over the four groups."""
    pending = unread = 0
    for service in PIPELINE.services:
        stream = keys.stream(PIPELINE.input_stream(service))
        summary = await redis.xpending(stream, service)
        pending += int(summary["pending"])
        info = await redis.xinfo_stream(stream)
        groups = {g["name"].decode(): g for g in await redis.xinfo_groups(stream)}
        group = groups.get(service)
        if group is None:
            unread += int(info["length"])
        elif group["last-delivered-id"] != info["last-generated-id"]:
            unread += int(group.get("lag") or 1)
    return pending, unread


async def check(
    redis: Redis,
    keys: Keys,
    posted: Sequence[str],
    marks: dict[str, bytes | str],
    settle_s: float = 5.0,
) -> Completeness:
    """Audit one run: ``marks`` are the terminal streams' ends before it started."""
    result = Completeness(posted=len(posted))
    wanted = set(posted)
    seen: Counter[str] = Counter()
    for name in TERMINALS:
        ids = await _event_ids_after(redis, keys.stream(name), marks[name])
        seen.update(ids)
        result.ended_in[name] = len(ids)
    result.arrived = sum(1 for e in wanted if e in seen)
    lost = [e for e in posted if e not in seen]
    dups = [e for e, n in seen.items() if n > 1]
    extra = [e for e in seen if e not in wanted]
    result.lost, result.duplicated, result.unexpected = len(lost), len(dups), len(extra)
    result.examples = [*lost[:3], *dups[:3], *extra[:3]]
    deadline = time.monotonic() + settle_s
    while True:  # the last acknowledgements may still be on their way
        result.pending, result.unread = await backlog(redis, keys)
        if not (result.pending or result.unread) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    return result


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
