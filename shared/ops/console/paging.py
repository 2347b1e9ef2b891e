"""Pages over an operators' inbox stream (escalations, dead letters) that stay fast at any size.

Stream ids are the cursors: a page starts after the last id of the one before. An entry is open
while it is pending in the ``operators`` group or not yet read by it (past the group's last
delivered id); open entries are found through XPENDING, so resolved ones cost nothing to skip.
A filtered page reads at most ``budget`` entries and hands back a cursor to continue from, so
no request ever walks a whole backlog. Everything here is read-only (viewers may page too).
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.ops.inbox import CONSUMER, GROUP, InboxEntry, make_entry
from shared.runtime.delivery import as_text
from shared.runtime.redis_client import ensure_group

ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
CHUNK = 500

Rows = list[tuple[bytes, dict[bytes, bytes]]]
Keep = Callable[[InboxEntry], bool]


@dataclass(frozen=True)
class Page:
    entries: list[InboxEntry]
    after: str | None
    """The cursor of the next page; None when the stream has nothing further."""
    scanned: int


@dataclass(frozen=True)
class Bounds:
    """Which part of the stream a listing covers: after a cursor, and an age window."""

    after: str | None = None
    younger_than_s: float | None = None
    older_than_s: float | None = None

    def low(self) -> str:
        """The exclusive (``(id``) or inclusive lower bound for XRANGE/XPENDING."""
        floor = None
        if self.younger_than_s is not None:
            floor = f"{int((time.time() - self.younger_than_s) * 1000)}-0"
        if self.after and (floor is None or id_key(self.after) >= id_key(floor)):
            return f"({self.after}"
        return floor or "-"

    def high(self) -> str:
        if self.older_than_s is None:
            return "+"
        return f"{int((time.time() - self.older_than_s) * 1000)}-0"


def id_key(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


def valid_id(entry_id: str) -> bool:
    return bool(ENTRY_ID.match(entry_id))


async def last_delivered(redis: Redis, stream: str) -> str | None:
    """The operators' group's last delivered id; None when the group does not exist yet."""
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:  # no stream yet
        return None
    for group in groups:
        if as_text(group["name"]) == GROUP:
            return as_text(group["last-delivered-id"])
    return None


async def open_count(redis: Redis, stream: str) -> int:
    """How many entries are open: pending in the group plus not yet read by it."""
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:
        return 0
    for group in groups:
        if as_text(group["name"]) == GROUP:
            lag = group.get("lag")
            return int(group["pending"]) + (int(lag) if lag is not None else 0)
    return int(await redis.xlen(stream))


async def page(
    redis: Redis,
    stream: str,
    bounds: Bounds,
    *,
    size: int,
    budget: int,
    open_only: bool,
    keep: Keep = lambda _: True,
) -> Page:
    """Up to ``size`` entries after ``bounds.after`` that ``keep`` accepts, oldest first."""
    found: list[InboxEntry] = []
    scanned = 0
    source = _open_rows(redis, stream, bounds) if open_only else _all_rows(redis, stream, bounds)
    async for entry in source:
        scanned += 1
        if keep(entry):
            found.append(entry)
        if len(found) == size or scanned >= budget:
            return Page(found, entry.entry_id, scanned)
    return Page(found, None, scanned)


async def get(redis: Redis, stream: str, entry_id: str) -> InboxEntry | None:
    """One entry by stream id, marked resolved or not; None when there is no such entry."""
    if not valid_id(entry_id):
        return None
    rows = cast(Rows, await redis.xrange(stream, entry_id, entry_id))
    if not rows:
        return None
    pending = await _pending(redis, stream, entry_id, entry_id, 1)
    delivered = await last_delivered(redis, stream)
    is_open = entry_id in pending or delivered is None or id_key(entry_id) > id_key(delivered)
    return make_entry(entry_id, rows[0][1], pending.get(entry_id, 0), resolved=not is_open)


async def take(redis: Redis, stream: str, entry_id: str) -> None:
    """Read the group up to ``entry_id``, so that it is pending and a fenced commit can resolve
    it (operators only: XREADGROUP writes the group's state)."""
    await ensure_group(redis, stream, GROUP)
    while True:
        delivered = await last_delivered(redis, stream)
        if delivered is not None and id_key(delivered) >= id_key(entry_id):
            return
        if not await redis.xreadgroup(GROUP, CONSUMER, {stream: ">"}, count=1000):
            return


async def _pending(redis: Redis, stream: str, low: str, high: str, count: int) -> dict[str, int]:
    try:
        rows = await redis.xpending_range(stream, GROUP, low, high, count)
    except ResponseError:  # no group (or stream) yet: nothing is pending
        return {}
    return {as_text(cast(bytes, p["message_id"])): int(p["times_delivered"]) for p in rows}


async def _fetch(redis: Redis, stream: str, ids: list[str]) -> dict[str, dict[bytes, bytes]]:
    """The entries ``ids`` (in stream order): one XRANGE over their span when they lie close
    together (the usual case), one XRANGE per id for those it did not reach."""
    wanted = set(ids)
    rows = cast(Rows, await redis.xrange(stream, ids[0], ids[-1], count=2 * len(ids)))
    found = {as_text(i): f for i, f in rows if as_text(i) in wanted}
    missing = [i for i in ids if i not in found]
    if missing:
        async with redis.pipeline(transaction=False) as pipe:
            for entry_id in missing:
                pipe.xrange(stream, entry_id, entry_id)
            replies: list[Rows] = await pipe.execute()
        found |= {as_text(r[0][0]): r[0][1] for r in replies if r}
    return found


async def _open_rows(redis: Redis, stream: str, bounds: Bounds) -> AsyncIterator[InboxEntry]:
    low, high = bounds.low(), bounds.high()
    while True:  # the pending part, through XPENDING
        pending = await _pending(redis, stream, low, high, CHUNK)
        if pending:
            found = await _fetch(redis, stream, list(pending))
            for entry_id, count in pending.items():
                if entry_id in found:  # else deleted since
                    yield make_entry(entry_id, found[entry_id], count)
            low = f"({list(pending)[-1]}"
        if len(pending) < CHUNK:
            break
    delivered = await last_delivered(redis, stream)
    after = bounds.after  # the tail: what the group has not read yet, past the cursor
    if delivered is not None and (after is None or id_key(delivered) > id_key(after)):
        after = delivered
    tail = Bounds(after=after, younger_than_s=bounds.younger_than_s)
    async for entry in _range(redis, stream, tail.low(), high):
        yield entry


async def _all_rows(redis: Redis, stream: str, bounds: Bounds) -> AsyncIterator[InboxEntry]:
    delivered = await last_delivered(redis, stream)
    async for entry in _range(redis, stream, bounds.low(), bounds.high(), delivered, marked=True):
        yield entry


async def _range(
    redis: Redis,
    stream: str,
    low: str,
    high: str,
    delivered: str | None = None,
    *,
    marked: bool = False,
) -> AsyncIterator[InboxEntry]:
    """Entries in ``[low, high]`` in chunks; ``marked``: tell open from resolved ones."""
    while True:
        rows = cast(Rows, await redis.xrange(stream, low, high, count=CHUNK))
        if not rows:
            return
        first, last = as_text(rows[0][0]), as_text(rows[-1][0])
        pending = await _pending(redis, stream, first, last, len(rows)) if marked else {}
        for raw_id, fields in rows:
            entry_id = as_text(raw_id)
            is_open = (
                not marked
                or entry_id in pending
                or delivered is None
                or id_key(entry_id) > id_key(delivered)
            )
            yield make_entry(entry_id, fields, pending.get(entry_id, 0), resolved=not is_open)
        if len(rows) < CHUNK:
            return
        low = f"({last}"
