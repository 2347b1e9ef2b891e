"""The fenced commit: acknowledge inputs and publish their outputs in one server-side step.

Completed entries are queued and committed in batches, one script call per batch, so a busy
worker pays one round trip (and, with ``appendfsync always``, one fsync) for many entries.
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass
from importlib import resources
from itertools import chain
from typing import Any

import msgpack
import structlog
from redis.asyncio import Redis

from shared.errors import REDIS_UNAVAILABLE
from shared.runtime.backoff import equal_jitter
from shared.runtime.channel import Channel, ChannelScript, PooledChannel
from shared.runtime.keys import RuntimeKeys
from shared.runtime.outcome import Outcome, Publish
from shared.runtime.runrecord import Op, run_record_op

log = structlog.get_logger("baton.commit")

# Scripts that call functions defined in a library file, which is loaded in front of them.
LUA_LIBRARIES = {"commit.lua": ("ledger.lua",), "budget.lua": ("ledger.lua",)}


def load_lua(name: str) -> str:
    """The source of ``shared/runtime/lua/<name>``, preceded by the libraries it uses."""
    folder = resources.files("shared.runtime").joinpath("lua")
    parts = [folder.joinpath(lib).read_text() for lib in LUA_LIBRARIES.get(name, ())]
    return "\n".join([*parts, folder.joinpath(name).read_text()])


class KeyTable:
    """The keys a script call declares, each once, for ops that name them by position
    (``KEYS[n]`` in Lua, 1-based)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._positions: dict[str, int] = {}

    def position(self, name: str) -> int:
        found = self._positions.get(name)
        if found is None:
            self.names.append(name)
            found = self._positions[name] = len(self.names)
        return found


def pack_argument(value: Any) -> bytes:
    """``value`` as one MessagePack script argument (redis-py packs a command argument by
    argument in Python, which for hundreds of small arguments costs more than the script).

    Raw (not bin) strings: Redis 7.0's cmsgpack reads only the older format; it keeps bytes.
    """
    packed: bytes = msgpack.packb(value, use_bin_type=False)
    return packed


class CommitStatus(enum.IntEnum):
    STALE = 0
    """The input was no longer pending (a peer committed it): nothing was written."""
    COMMITTED = 1
    DUPLICATE = 2
    """The idempotency marker already existed: the input was acknowledged, outputs skipped."""


# commit.lua's replies, by value: cheaper than calling the enum for every entry.
_STATUSES: tuple[CommitStatus, ...] = tuple(sorted(CommitStatus))


@dataclass(frozen=True)
class CommitSettings:
    group: str
    retention_s: int
    dedupe_ttl_s: int
    max_batch: int = 256
    max_in_flight: int = 2


class CommitProgram:
    """Arguments for ``commit.lua``: a deduplicated key table, the group, and the entries packed
    as one flat MessagePack array (one table for Lua to build, not several per entry)."""

    def __init__(self, group: str) -> None:
        self._keys = KeyTable()
        self.group = group
        self._program: list[Any] = []

    @property
    def keys(self) -> list[str]:
        return self._keys.names

    @property
    def args(self) -> list[bytes | str]:
        return [self.group, pack_argument(self._program)]

    def add(
        self,
        stream: str,
        entry_id: str,
        ops: list[Op],
        guard: tuple[str, int] | None = None,
        duplicate_ops: list[Op] | None = None,
    ) -> None:
        """Commit ``ops`` with the acknowledgement of ``entry_id`` on ``stream``; with a ``guard``
        (idempotency marker key, TTL seconds) that already exists, ``duplicate_ops`` instead."""
        program, position = self._program, self._keys.position
        guard_index, guard_ttl = (position(guard[0]), guard[1]) if guard else (0, 0)
        lengths = len(program) + 4  # where the header's two op-list lengths go
        program += (position(stream), entry_id, guard_index, guard_ttl, 0, 0)
        program[lengths] = self._append(ops)
        if duplicate_ops:
            program[lengths + 1] = self._append(duplicate_ops)

    def _append(self, ops: list[Op]) -> int:
        """Append ``ops`` as ``command, key_index, arg_count, args...``; their length."""
        program, position = self._program, self._keys.position
        start = len(program)
        for command, key, args in ops:
            program += (command, position(key), len(args))
            program += args
        return len(program) - start


def publish_op(publish: Publish) -> Op:
    fields = chain.from_iterable(publish.fields.items())
    if publish.ledger is None:
        return ("XADD", publish.stream, ["*", *fields])
    return ("XADD_SPENT", publish.stream, [publish.ledger, "*", *fields])


def outcome_ops(
    keys: RuntimeKeys, outcome: Outcome, retention_s: int, updated_at: str | None = None
) -> list[Op]:
    """Every write an outcome makes: its publishes, its LLM charges, its run-record update
    (stamped ``updated_at``, by default now)."""
    ops: list[Op] = [publish_op(publish) for publish in outcome.publishes]
    if outcome.charges:
        budget_key, ttl = keys.budget(outcome.event_id), str(retention_s)
        ops += [
            ("SETTLE", budget_key, [charge.call_id, str(charge.tokens), str(charge.micro_usd), ttl])
            for charge in outcome.charges
        ]
    ops.append(run_record_op(keys, outcome, retention_s, updated_at))
    return ops


class Committer:
    """Batches fenced commits for one input stream and consumer group.

    The commits go on ``channel`` when given (:meth:`aclose` closes it), else on ``redis``'s pool.
    """

    def __init__(
        self,
        redis: Redis,
        keys: RuntimeKeys,
        stream: str,
        settings: CommitSettings,
        channel: Channel | None = None,
    ) -> None:
        self._keys = keys
        self._stream = stream
        self._settings = settings
        self._closing = False
        self._script = ChannelScript(channel or PooledChannel(redis), load_lua("commit.lua"))
        self._queue: asyncio.Queue[tuple[str, Outcome, asyncio.Future[CommitStatus]]] = (
            asyncio.Queue()
        )

    def close(self) -> None:
        """Stop retrying commits (shutdown): entries not committed stay pending for peers."""
        self._closing = True

    async def aclose(self) -> None:
        """Close the committer's channel (once :meth:`run` has stopped)."""
        await self._script.channel.aclose()

    async def commit(self, entry_id: str, outcome: Outcome) -> CommitStatus:
        """Queue ``outcome`` for the next batch and wait until it is committed (or found stale)."""
        future: asyncio.Future[CommitStatus] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((entry_id, outcome, future))
        return await future

    async def run(self) -> None:
        """Commit queued outcomes until cancelled.

        Up to ``max_in_flight`` batches are in flight at once: with ``appendfsync always`` each
        waits for Redis's fsync, and the entries finished meanwhile need not wait for it too.
        Entries are independent (each one's acknowledgement fences its own writes), so batches
        may land in any order.
        """
        flushing: set[asyncio.Task[None]] = set()
        try:
            while True:
                batch = [await self._queue.get()]
                while len(batch) < self._settings.max_batch and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                live = [item for item in batch if not item[2].cancelled()]
                if not live:
                    continue
                while len(flushing) >= self._settings.max_in_flight:
                    await asyncio.wait(flushing, return_when=asyncio.FIRST_COMPLETED)
                task = asyncio.create_task(self._flush_or_fail(live))
                flushing.add(task)
                task.add_done_callback(flushing.discard)
        finally:
            for task in flushing:
                task.cancel()

    async def _flush_or_fail(
        self, batch: list[tuple[str, Outcome, asyncio.Future[CommitStatus]]]
    ) -> None:
        try:
            await self._flush(batch)
        except Exception as exc:  # the committer must outlive any one batch
            # Not an outage (those are retried inside): e.g. READONLY after a failover or a
            # script error. Fail this batch's waiters; their entries stay pending and are
            # delivered again. Later batches still commit.
            log.error("commit_failed", error=repr(exc)[:300], entries=len(batch))
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)

    async def _flush(self, batch: list[tuple[str, Outcome, asyncio.Future[CommitStatus]]]) -> None:
        program = CommitProgram(self._settings.group)
        updated_at = repr(time.time())  # one script call commits the batch: one update time
        for entry_id, outcome, _ in batch:
            program.add(self._stream, entry_id, *self._ops_for(outcome, updated_at))
        statuses = await self._execute(program)
        for (_, _, future), status in zip(batch, statuses, strict=True):
            if not future.done():
                future.set_result(_STATUSES[status])

    def _ops_for(
        self, outcome: Outcome, updated_at: str
    ) -> tuple[list[Op], tuple[str, int] | None, list[Op]]:
        ops = outcome_ops(self._keys, outcome, self._settings.retention_s, updated_at)
        if outcome.dedupe_key is None:
            return ops, None, []
        duplicate: list[Op] = [("HINCRBY", self._keys.run(outcome.event_id), ["duplicates", "1"])]
        return ops, (outcome.dedupe_key, self._settings.dedupe_ttl_s), duplicate

    async def _execute(self, program: CommitProgram) -> list[int]:
        attempt = 0
        while True:
            try:
                result: list[int] = await self._script(program.keys, program.args)
                return result
            except REDIS_UNAVAILABLE as exc:
                if self._closing:
                    raise asyncio.CancelledError from exc  # shutting down: stay pending
                # Safe to repeat: entries the lost attempt did commit now answer STALE.
                delay = equal_jitter(attempt, base=0.1, cap=5.0)
                log.warning("commit_retry", error=str(exc)[:200], delay_s=round(delay, 3))
                attempt += 1
                await asyncio.sleep(delay)
