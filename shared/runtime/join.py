"""Joins in the runtime: the fenced-commit ops that open a join and settle its branches, reading a
closed join back, and the deadline sweep (the Lua side is shared/runtime/lua/join.lua).

* :func:`open_op` goes in the commit that publishes the branches and acknowledges the input that
  fanned out: no branch exists without its join, no join without its branches.
* :func:`arrive_op` / :func:`fail_op` go in the commit that acknowledges a branch's validated
  result, or its dead letter: a branch settles once, however often it is delivered or replayed.
* When the last branch settles (or :class:`JoinSweeper` finds the deadline passed) the join closes
  once and one entry with a ``join_ready`` field goes to the stream named when it opened (the
  pipeline's router's input); the router merges it (:func:`load_join`) in the commit that
  acknowledges that entry, so the merged input is published once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
import structlog
from redis.asyncio import Redis

from shared.errors import REDIS_UNAVAILABLE
from shared.runtime.commit import load_lua
from shared.runtime.delivery import Fields, as_text
from shared.runtime.keys import RuntimeKeys
from shared.runtime.outcome import Op, Outcome, Publish, evolve

log = structlog.get_logger("baton.join")

JOIN_READY = b"join_ready"
"""The flat field of an entry that says: this join closed, merge it."""
SWEEP_BATCH = 100


BRANCH_FIELD = b"branch"
"""The flat field naming a branch's join and index (``<join>|<index>``) on its entries."""


def branch_of(fields: Fields | None) -> tuple[str, int] | None:
    """The join and branch index an entry's flat ``branch`` field names, if any."""
    raw = fields.get(BRANCH_FIELD) if fields is not None else None
    if raw is None:
        return None
    join, _, index = raw.decode("utf-8", "replace").rpartition("|")
    return (join, int(index)) if join and index.isdigit() else None


def join_id(event_id: str, name: str, hops: int) -> str:
    """The join an event opens at hop ``hops`` (an event may pass the same join again later)."""
    return f"{event_id}:{name}:{hops}"


def open_op(
    keys: RuntimeKeys,
    join: str,
    event_id: str,
    expected: int,
    deadline: float,
    envelope: bytes,
    traceparent: str | None,
    ttl_s: int,
    ready: str,
) -> Op:
    """Open ``join`` expecting ``expected`` branches until ``deadline`` (epoch seconds);
    ``envelope`` is the event as it fanned out (what the merge goes on from); its one "join
    ready" entry goes to the stream ``ready`` when it closes."""
    args: list[bytes | str] = [
        join, event_id, str(expected), repr(deadline), repr(time.time()), envelope,
        traceparent or "", keys.joins, str(ttl_s), ready,
    ]  # fmt: skip
    return ("JOIN_OPEN", keys.join(join), args)


def arrive_op(keys: RuntimeKeys, join: str, index: int, result: bytes) -> Op:
    """Settle branch ``index`` of ``join`` with its validated ``result`` (JSON)."""
    return ("JOIN_ARRIVE", keys.join(join), [str(index), result, keys.joins])


def fail_op(keys: RuntimeKeys, join: str, index: int, reason: str) -> Op:
    """Settle branch ``index`` of ``join`` as failed (dead-lettered, halted) for ``reason``."""
    return ("JOIN_FAIL", keys.join(join), [str(index), reason, keys.joins])


def branch_dead_letter(keys: RuntimeKeys, outcome: Outcome, join: str, index: int) -> Outcome:
    """A branch's dead-letter outcome: the dead letter says which branch it was (so it is not
    taken for the event's end), its step is the branch's, and the commit settles the branch in
    its join as failed."""
    ref = f"{join}|{index}"
    publishes = [
        Publish(p.stream, {**p.fields, BRANCH_FIELD: ref.encode()}, p.ledger)
        for p in outcome.publishes
    ]
    op = fail_op(keys, join, index, outcome.reason or "dead_lettered")
    step = evolve(outcome.step, branch=ref)
    return evolve(outcome, publishes=publishes, step=step, ops=(*outcome.ops, op))


@dataclass(frozen=True)
class JoinState:
    """A join as its hash holds it."""

    id: str
    event_id: str
    status: str
    expected: int
    outputs: tuple[dict[str, Any] | None, ...]
    failures: dict[int, str] = field(default_factory=dict)
    expired: bool = False
    late: int = 0
    duplicates: int = 0
    opened_at: float = 0.0
    deadline: float = 0.0

    @property
    def closed(self) -> bool:
        return self.status != "open"


async def load_join(redis: Redis, keys: RuntimeKeys, join: str) -> JoinState | None:
    """Read a join, or None when there is none (never opened, or expired)."""
    raw = await redis.hgetall(keys.join(join))
    if not raw:
        return None
    return parse_join(
        {as_text(k): v if isinstance(v, bytes) else v.encode() for k, v in raw.items()}
    )


def parse_join(data: dict[str, bytes]) -> JoinState:
    expected = int(data.get("expected", b"0"))
    outputs: list[dict[str, Any] | None] = [None] * expected
    failures: dict[int, str] = {}
    for name, value in data.items():
        kind, _, index = name.partition(":")
        if not index.isdigit() or int(index) >= expected:
            continue
        if kind == "r":
            outputs[int(index)] = orjson.loads(value)
        elif kind == "f":
            failures[int(index)] = as_text(value)
    return JoinState(
        id=as_text(data.get("id", b"")),
        event_id=as_text(data.get("event_id", b"")),
        status=as_text(data.get("status", b"")),
        expected=expected,
        outputs=tuple(outputs),
        failures=failures,
        expired=data.get("expired") == b"1",
        late=int(data.get("late", b"0")),
        duplicates=int(data.get("duplicates", b"0")),
        opened_at=float(data.get("opened_at", b"0")),
        deadline=float(data.get("deadline", b"0")),
    )


@dataclass(frozen=True)
class OpenJoin:
    """A join still waiting for branches, as ``baton status`` lists it."""

    id: str
    expected: int
    settled: int
    opened_at: float
    deadline: float

    def age_s(self, now: float) -> float:
        return max(0.0, now - self.opened_at)


async def open_joins(
    redis: Redis, keys: RuntimeKeys, limit: int = 20
) -> tuple[int, list[OpenJoin]]:
    """How many joins are open, and the ``limit`` closest to their deadline (the oldest)."""
    total = int(await redis.zcard(keys.joins))
    members = cast(list[bytes], await redis.zrange(keys.joins, 0, limit - 1))
    ids = [as_text(i) for i in members]
    found: list[OpenJoin] = []
    for join in ids:
        values = await redis.hmget(keys.join(join), "expected", "settled", "opened_at", "deadline")
        if values[0] is None:
            continue
        expected, settled, opened_at, deadline = (v or b"0" for v in values)
        found.append(OpenJoin(join, int(expected), int(settled), float(opened_at), float(deadline)))
    return total, found


def ready_join(fields: Fields | None) -> str | None:
    """The join an entry says is ready to merge, if it is such an entry."""
    raw = fields.get(JOIN_READY) if fields is not None else None
    return None if raw is None else as_text(raw)


class JoinSweeper:
    """Closes overdue joins as partial, every ``interval_s``, from any number of processes at
    once (each join closes once: the script acts only on an open join)."""

    def __init__(self, redis: Redis, keys: RuntimeKeys, interval_s: float) -> None:
        self._redis = redis
        self._keys = keys
        self._interval_s = interval_s
        self._script = redis.register_script(load_lua("join_sweep.lua"))

    async def sweep(self, now: float | None = None) -> list[str]:
        """Close every join due by ``now`` (default: now); the ids of those it closed."""
        closed: list[str] = []
        while True:
            ids = await self._script(
                keys=[self._keys.joins],
                args=[repr(now or time.time()), self._keys.join(""), SWEEP_BATCH],
            )
            closed += [as_text(i) for i in ids]
            if len(ids) < SWEEP_BATCH:
                return closed

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep until ``stop`` is set; a Redis outage only delays the next sweep."""
        while not stop.is_set():
            try:
                closed = await self.sweep()
                if closed:
                    log.info("joins_expired", joins=len(closed))
            except REDIS_UNAVAILABLE as exc:
                log.warning("join_sweep_waiting_for_redis", error=str(exc)[:200])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval_s)
