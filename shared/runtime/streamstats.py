"""The state of every stream and group, read from Redis itself (XINFO, XPENDING)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.runtime.delivery import as_text
from shared.runtime.keys import RuntimeKeys


@dataclass
class ConsumerState:
    name: str
    pending: int
    idle_ms: int
    alive: bool


@dataclass
class GroupState:
    name: str
    lag: int | None
    pending: int
    oldest_pending_idle_ms: int | None
    deliveries: dict[str, int] = field(default_factory=dict)
    """How many pending entries were delivered 1, 2, 3-4, 5-9 or 10+ times (poison shows here)."""
    consumers: list[ConsumerState] = field(default_factory=list)

    @property
    def alive(self) -> int:
        return sum(c.alive for c in self.consumers)

    @property
    def dead(self) -> int:
        return len(self.consumers) - self.alive


@dataclass
class StreamState:
    name: str
    key: str
    length: int
    groups: list[GroupState] = field(default_factory=list)
    recent: int = 0
    """Entries added in the last :data:`RATE_WINDOW_S` seconds (at most :data:`RATE_SAMPLE`)."""

    @property
    def per_second(self) -> float:
        return self.recent / RATE_WINDOW_S

    @property
    def lag(self) -> int | None:
        """Entries not yet delivered to its groups (``None`` when Redis cannot tell)."""
        lags = [g.lag for g in self.groups]
        return None if None in lags else sum(lag for lag in lags if lag is not None)


HISTOGRAM_SAMPLE = 10_000
RATE_WINDOW_S = 10
RATE_SAMPLE = 5_000
BUCKETS = ((1, "1"), (2, "2"), (4, "3-4"), (9, "5-9"))


def _bucket(count: int) -> str:
    for ceiling, name in BUCKETS:
        if count <= ceiling:
            return name
    return "10+"


def as_json(states: list[StreamState]) -> list[dict[str, Any]]:
    out = []
    for state in states:
        data = asdict(state)
        for group, raw in zip(state.groups, data["groups"], strict=True):
            raw["consumers_alive"] = group.alive
            raw["consumers_dead"] = group.dead
        data["events_per_s"] = state.per_second
        out.append(data)
    return out


async def collect(
    redis: Redis,
    keys: RuntimeKeys,
    streams: Sequence[str],
    *,
    sample: int = HISTOGRAM_SAMPLE,
    rates: bool = False,
) -> list[StreamState]:
    """The state of each stream key in ``streams``, its groups and their consumers (the delivery
    histogram and the oldest pending age come from the ``sample`` oldest pending entries); with
    ``rates``, how many entries each got in the last :data:`RATE_WINDOW_S` seconds (by this
    machine's clock against the entry ids' times; XRANGE, which operators have and workers need
    not)."""
    since_ms = int((time.time() - RATE_WINDOW_S) * 1000) if rates else None
    return [await _stream_state(redis, keys, key, sample, since_ms) for key in streams]


async def _stream_state(
    redis: Redis, keys: RuntimeKeys, key: str, sample: int, since_ms: int | None
) -> StreamState:
    name = key.removeprefix(f"{keys.prefix}:")
    state = StreamState(name=name, key=key, length=await redis.xlen(key))
    if state.length and since_ms is not None:
        # Entry ids start with their time in ms: the recent ones are a range.
        recent = await redis.xrange(key, min=str(since_ms), max="+", count=RATE_SAMPLE)
        state.recent = len(recent or [])
    try:
        groups = await redis.xinfo_groups(key)
    except ResponseError:  # no such key yet
        return state
    for group in groups:
        state.groups.append(await _group_state(redis, keys, key, group, sample))
    return state


async def _group_state(
    redis: Redis, keys: RuntimeKeys, key: str, info: dict[str, Any], sample: int
) -> GroupState:
    group = as_text(info["name"])
    oldest_idle = None
    histogram: dict[str, int] = {}
    if int(info["pending"]):
        pending = await redis.xpending_range(key, group, "-", "+", sample)
        # Entries can be acknowledged between XINFO and XPENDING: the sample may be empty.
        oldest_idle = max((int(p["time_since_delivered"]) for p in pending), default=None)
        for entry in pending:
            bucket = _bucket(int(entry["times_delivered"]))
            histogram[bucket] = histogram.get(bucket, 0) + 1
    state = GroupState(
        name=group,
        lag=int(info["lag"]) if info.get("lag") is not None else None,
        pending=int(info["pending"]),
        oldest_pending_idle_ms=oldest_idle,
        deliveries=histogram,
    )
    for consumer in await redis.xinfo_consumers(key, group):
        cname = as_text(consumer["name"])
        alive = bool(await redis.exists(keys.heartbeat(group, cname)))
        state.consumers.append(
            ConsumerState(cname, int(consumer["pending"]), int(consumer["idle"]), alive)
        )
    return state
