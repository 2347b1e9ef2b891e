"""The operators' inbox on a terminal stream: ``escalations`` read as consumer group ``operators``.

An entry is open while it is pending in that group; resolving it is a fenced commit (XACK plus the
writes), so resolving the same escalation twice, or from two terminals at once, publishes once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from shared.pipeline.keys import Keys
from shared.runtime.commit import CommitProgram, CommitStatus, load_lua, outcome_ops
from shared.runtime.delivery import as_text
from shared.runtime.outcome import Outcome
from shared.runtime.redis_client import ensure_group

GROUP = "operators"
CONSUMER = "cli"

Entries = list[tuple[bytes, dict[bytes, bytes]]]


@dataclass(frozen=True)
class InboxEntry:
    entry_id: str
    event_id: str
    reason: str
    packet: dict[str, Any]
    deliveries: int
    fields: dict[bytes, bytes]
    resolved: bool = False

    @property
    def age_s(self) -> float:
        return time.time() - int(self.entry_id.split("-")[0]) / 1000


class Inbox:
    def __init__(self, redis: Redis, keys: Keys, stream: str) -> None:
        self.redis = redis
        self.keys = keys
        self.stream = stream

    async def open_entries(self) -> list[InboxEntry]:
        """Every entry not yet resolved, oldest first."""
        await ensure_group(self.redis, self.stream, GROUP)
        while True:  # move everything new into the group's pending list
            reply = await self.redis.xreadgroup(GROUP, CONSUMER, {self.stream: ">"}, count=1000)
            if not reply:
                break
        pending = await self.redis.xpending_range(self.stream, GROUP, "-", "+", 100_000)
        counts = {as_text(cast(bytes, p["message_id"])): int(p["times_delivered"]) for p in pending}
        entries: list[InboxEntry] = []
        for entry_id, count in counts.items():
            found = cast(Entries, await self.redis.xrange(self.stream, entry_id, entry_id))
            if found:
                entries.append(_entry(entry_id, found[0][1], count))
        return entries

    async def all_entries(self) -> list[InboxEntry]:
        """Open and resolved entries alike (resolved: acknowledged in the group)."""
        open_ids = {e.entry_id for e in await self.open_entries()}
        entries = cast(Entries, await self.redis.xrange(self.stream))
        return [
            _entry(as_text(eid), fields, 0, resolved=as_text(eid) not in open_ids)
            for eid, fields in entries
        ]

    async def find(self, ident: str) -> InboxEntry | None:
        """An open entry by event id or stream entry id."""
        for entry in await self.open_entries():
            if ident in (entry.event_id, entry.entry_id):
                return entry
        return None

    async def resolve(self, entry: InboxEntry, outcome: Outcome, retention_s: int) -> bool:
        """Acknowledge ``entry`` and apply ``outcome``'s writes at once; False if already done."""
        program = CommitProgram(GROUP)
        program.add(self.stream, entry.entry_id, outcome_ops(self.keys, outcome, retention_s))
        script = self.redis.register_script(load_lua("commit.lua"))
        (status,) = await script(keys=program.keys, args=program.args)
        return CommitStatus(int(status)) is CommitStatus.COMMITTED


def make_entry(
    entry_id: str, fields: dict[bytes, bytes], deliveries: int = 0, resolved: bool = False
) -> InboxEntry:
    """An entry read by other means (a page of the stream), decoded like the inbox's own."""
    return _entry(entry_id, fields, deliveries, resolved)


async def purge(redis: Redis, stream: str, entry_ids: list[str]) -> None:
    """Delete entries for good (acknowledged first, so none stays pending)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xack(stream, GROUP, *entry_ids)
        pipe.xdel(stream, *entry_ids)
        await pipe.execute()


def _entry(
    entry_id: str, fields: dict[bytes, bytes], deliveries: int, resolved: bool = False
) -> InboxEntry:
    packet = orjson.loads(fields[b"packet"]) if b"packet" in fields else {}
    return InboxEntry(
        entry_id=entry_id,
        event_id=as_text(fields.get(b"event_id", b"?")),
        reason=as_text(fields.get(b"reason", b"?")),
        packet=packet,
        deliveries=deliveries,
        fields=fields,
        resolved=resolved,
    )
