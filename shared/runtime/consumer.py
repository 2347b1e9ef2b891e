"""The consumer runtime: one consumer in one group, reading one stream.

It owns everything around a stage's logic: creating the group, batched reads with bounded
concurrency, the fenced commit, retries with backoff, the poison cap, dead-lettering, reclaiming
peers' stuck entries, keeping its own slow entries alive, its heartbeat, and graceful shutdown.
The :class:`Worker` here reads, keeps the entries in flight and shuts down; each entry's attempts
are :mod:`shared.runtime.processor`'s, the reclaiming and heartbeat
:mod:`shared.runtime.reclaimer`'s, and the
last chance an entry gets alone :mod:`shared.runtime.isolation`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from typing import Any, cast

import structlog
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.errors import REDIS_UNAVAILABLE
from shared.runtime.backoff import equal_jitter
from shared.runtime.channel import channel_for
from shared.runtime.commit import CommitSettings, Committer
from shared.runtime.delivery import Delivery, as_text
from shared.runtime.hooks import Hooks, NoHooks
from shared.runtime.isolation import Isolation
from shared.runtime.processor import Processor
from shared.runtime.reclaimer import Reclaimer
from shared.runtime.redis_client import ensure_group, socket_timeout_s
from shared.runtime.settings import RuntimeSettings
from shared.runtime.stage import Stage

log = structlog.get_logger("baton.consumer")

StreamReply = list[tuple[bytes, list[tuple[bytes, list[bytes] | None]]]] | None


class Worker:
    """Runs ``stage`` as consumer ``consumer`` of group ``stage.service`` on its input stream.

    Args:
        stage: the service logic.
        settings: the service's settings.
        redis: a client for commands (claims, heartbeats). The blocking XREADGROUP and the
            commits each go on a channel of their own to the same server, as the same user
            (see :mod:`shared.runtime.channel`), so a read never holds up commits.
    """

    def __init__(
        self,
        stage: Stage[Any],
        settings: RuntimeSettings,
        redis: Redis,
        hooks: Hooks | None = None,
    ) -> None:
        self.stage = stage
        self.hooks: Hooks = hooks or NoHooks()
        self.settings = settings
        self.keys = settings.keys
        self.group = stage.service
        self.stream = stage.stream
        self.consumer = settings.consumer_name()
        self._redis = redis
        self._reads = channel_for(redis)
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._isolation = Isolation(self._inflight)
        self._slot_freed = asyncio.Event()
        self.committer = Committer(
            redis,
            self.keys,
            self.stream,
            CommitSettings(self.group, settings.run_retention_s, settings.dedupe_ttl_s),
            channel_for(redis),
        )
        self.reclaimer = Reclaimer(self, redis)
        self.processor = Processor(
            stage, settings, self.consumer, redis, self.hooks, self.committer,
            self.reclaimer, self._process,
        )  # fmt: skip

    @property
    def inflight_ids(self) -> list[str]:
        return list(self._inflight)

    @property
    def free_slots(self) -> int:
        if self._isolation.busy:
            return 0  # an entry's last chance is running by itself: take no new work
        return self.settings.concurrency - len(self._inflight)

    async def ensure_group(self) -> None:
        """Create the group from the start of the stream (events posted early are not skipped)."""
        await ensure_group(self._redis, self.stream, self.group)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set, then shut down gracefully and return."""
        await self._wait_for_redis(stop)
        background = [
            asyncio.create_task(self.committer.run(), name="committer"),
            asyncio.create_task(self.reclaimer.run(), name="reclaimer"),
        ]
        log.info("worker_started", service=self.group, consumer=self.consumer, stream=self.stream)
        try:
            await self._read_loop(stop)
            await self._drain()
        finally:
            await self._stop_background(*background)
            await self.reclaimer.farewell()
            await self._reads.aclose()
            await self.committer.aclose()
        log.info("worker_stopped", service=self.group, consumer=self.consumer)

    async def _stop_background(
        self, committer: asyncio.Task[None], upkeep: asyncio.Task[None]
    ) -> None:
        """Stop the loops without cancelling them mid-command where possible.

        A cancel that lands while redis-py connects or reads can leave a socket open, or be
        swallowed by its retries; so the upkeep loop is asked to finish its round, and the
        committer (idle on its queue once in-flight work has drained) is cancelled. Bounded.
        """
        self.reclaimer.stop()
        self.committer.close()
        committer.cancel()
        _, stuck = await asyncio.wait([committer, upkeep], timeout=5)
        for task in stuck:
            task.cancel()
        if stuck:
            log.warning("background_tasks_did_not_stop", tasks=len(stuck))

    async def _wait_for_redis(self, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            try:
                await self.ensure_group()
                await self.reclaimer.beat()
                return
            except REDIS_UNAVAILABLE as exc:
                delay = equal_jitter(attempt, base=0.2, cap=5.0)
                log.warning("redis_unavailable", error=str(exc)[:200], retry_in_s=round(delay, 2))
                attempt += 1
                await asyncio.sleep(delay)

    async def _read_loop(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            if self.free_slots <= 0:
                self._slot_freed.clear()
                await _wait_any(self._slot_freed, stop)
                continue
            await self.stage.ready()  # e.g. the LLM breaker is open: events wait in the stream
            try:
                reply = await self._reads.execute(
                    "XREADGROUP", "GROUP", self.group, self.consumer,
                    "COUNT", min(self.free_slots, self.settings.batch_size),
                    "BLOCK", self.settings.block_ms, "STREAMS", self.stream, ">",
                    timeout_s=socket_timeout_s(self.settings.block_ms),
                )  # fmt: skip
                failures = 0
            except REDIS_UNAVAILABLE as exc:  # before ResponseError: it includes OutOfMemoryError
                log.warning("read_failed", error=str(exc)[:200], failures=failures + 1)
                await self._retry_pause(stop, failures)
                failures += 1
                continue
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning("group_missing_recreating", stream=self.stream, group=self.group)
                await self._retry_pause(stop, failures)
                failures += 1
                with contextlib.suppress(*REDIS_UNAVAILABLE):
                    await self.ensure_group()
                continue
            self._start_batch(cast(StreamReply, reply))

    def _start_batch(self, reply: StreamReply) -> None:
        """Start each entry of an XREADGROUP reply: ``[[stream, [[id, [field, value, ...]]]]]``
        as the protocol gives it (no entry body: trimmed)."""
        for _stream, entries in reply or []:
            for entry_id, flat in entries:
                fields = dict(zip(flat[::2], flat[1::2], strict=True)) if flat is not None else None
                self.start(Delivery(self.stream, as_text(entry_id), fields, 1))

    async def _retry_pause(self, stop: asyncio.Event, failures: int) -> None:
        delay = equal_jitter(failures, base=0.2, cap=5.0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)

    async def _drain(self) -> None:
        """Let in-flight events finish within the grace period; leave the rest pending for peers."""
        tasks = list(self._inflight.values())
        if not tasks:
            return
        log.info("draining", inflight=len(tasks), grace_s=self.settings.shutdown_grace_s)
        _, unfinished = await asyncio.wait(tasks, timeout=self.settings.shutdown_grace_s)
        for task in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.gather(*unfinished, return_exceptions=True)
            log.warning("left_pending_for_peers", count=len(unfinished))

    def start(self, delivery: Delivery) -> None:
        """Process ``delivery`` in the background, unless it is already in flight here."""
        if delivery.entry_id in self._inflight:
            return
        task = asyncio.create_task(self._process(delivery))
        self._inflight[delivery.entry_id] = task
        task.add_done_callback(functools.partial(self._finished, delivery.entry_id))

    def abandon(self, entry_id: str) -> bool:
        """Stop working on an entry a peer has taken over (its commit would be a no-op anyway).

        Returns False when there is nothing to stop: the entry is no longer in flight here, or
        its outcome already went to the fenced commit, which may itself have acknowledged it (the
        fence, not this, settles who wins).
        """
        task = self._inflight.get(entry_id)
        if task is None or entry_id in self.processor.committing:
            return False
        task.cancel()
        return True

    def _finished(self, entry_id: str, task: asyncio.Task[None]) -> None:
        if self._inflight.get(entry_id) is task:
            del self._inflight[entry_id]
            self.processor.committing.discard(entry_id)
        self._slot_freed.set()
        self._isolation.entry_finished()
        if not task.cancelled() and task.exception() is not None:
            log.error("process_crashed", entry_id=entry_id, error=repr(task.exception())[:300])

    async def _process(self, delivery: Delivery) -> None:
        if delivery.fields is not None and delivery.count >= max(2, self.settings.max_deliveries):
            # Its last chance: run it alone (see shared.runtime.isolation).
            await self._isolation.run_alone(
                delivery.entry_id,
                functools.partial(self.processor.mark_alone, delivery),
                lambda capped: self.processor.attempt(delivery, capped=capped),
            )
        else:
            await self._isolation.wait_while_one_runs_alone()
            await self.processor.attempt(delivery)


async def _wait_any(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
