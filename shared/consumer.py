"""The consumer runtime: one consumer in one group, reading one stream.

It owns everything around a stage's logic: creating the group, batched reads with bounded
concurrency, the fenced commit, retries with backoff, the poison cap, dead-lettering, reclaiming
peers' stuck entries, keeping its own slow entries alive, its heartbeat, and graceful shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from typing import cast

import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.backoff import equal_jitter
from shared.channel import channel_for
from shared.commit import REDIS_UNAVAILABLE, CommitSettings, CommitStatus, Committer
from shared.config import BatonSettings
from shared.deadletter import MAX_DELIVERIES, TRIMMED, dead_letter_outcome
from shared.delivery import Delivery, as_text
from shared.envelope import Envelope
from shared.errors import ContractError, PermanentError
from shared.isolation import Isolation
from shared.observe import Observer
from shared.outcome import Outcome, evolve
from shared.reclaimer import Reclaimer
from shared.redis_client import ensure_group, socket_timeout_s
from shared.runrecord import mark_alone, note_failure
from shared.stage import Stage
from shared.submission import default_event_id

log = structlog.get_logger("baton.consumer")

# Redis errors a stage may raise that are about Redis, not the event (unlike REDIS_UNAVAILABLE, no
# bare OSError/TimeoutError: an LLM call timing out is the event's failure and counts).
STAGE_REDIS_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OutOfMemoryError)

StreamReply = list[tuple[bytes, list[tuple[bytes, list[bytes] | None]]]] | None


class Worker:
    """Runs ``stage`` as consumer ``consumer`` of group ``stage.service`` on its input stream.

    Args:
        stage: the service logic.
        settings: the service's settings.
        redis: a client for commands (claims, heartbeats). The blocking XREADGROUP and the
            commits each go on a channel of their own to the same server, as the same user
            (see :mod:`shared.channel`), so a read never holds up commits.
    """

    def __init__(
        self,
        stage: Stage,
        settings: BatonSettings,
        redis: Redis,
        observer: Observer | None = None,
    ) -> None:
        self.stage = stage
        self.observer = observer or Observer.disabled(stage.service)
        self.settings = settings
        self.keys = settings.keys
        self.group = stage.service
        self.stream = self.keys.input_stream(stage.service)
        self.consumer = settings.consumer_name()
        self._redis = redis
        self._reads = channel_for(redis)
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._committing: set[str] = set()
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
        if task is None or entry_id in self._committing:
            return False
        task.cancel()
        return True

    def _finished(self, entry_id: str, task: asyncio.Task[None]) -> None:
        if self._inflight.get(entry_id) is task:
            del self._inflight[entry_id]
            self._committing.discard(entry_id)
        self._slot_freed.set()
        self._isolation.entry_finished()
        if not task.cancelled() and task.exception() is not None:
            log.error("process_crashed", entry_id=entry_id, error=repr(task.exception())[:300])

    async def _process(self, delivery: Delivery) -> None:
        if delivery.fields is not None and delivery.count >= max(2, self.settings.max_deliveries):
            # Its last chance: run it alone (see shared.isolation).
            await self._isolation.run_alone(
                delivery.entry_id,
                functools.partial(self._mark_alone, delivery),
                lambda capped: self._attempt(delivery, capped=capped),
            )
        else:
            await self._isolation.wait_while_one_runs_alone()
            await self._attempt(delivery)

    async def _mark_alone(self, delivery: Delivery) -> bool:
        """Record in the run record that this entry runs alone now; False if it already did."""
        try:
            envelope: Envelope | None = self.stage.decode(delivery)
        except Exception:
            envelope = None
        event_id = self._event_id(delivery, envelope)
        waits = 0
        while True:
            try:
                first = await mark_alone(
                    self._redis, self.keys, event_id, f"{self.group}:{delivery.entry_id}",
                    self.consumer, self.settings.run_retention_s,
                )  # fmt: skip
                break
            except REDIS_UNAVAILABLE:
                await asyncio.sleep(equal_jitter(waits, base=0.2, cap=5.0))
                waits += 1
        if first:
            log.warning("last_chance_alone", entry_id=delivery.entry_id, delivery=delivery.count)
        return first

    async def _attempt(self, delivery: Delivery, *, capped: bool = True) -> None:
        with self.observer.attempt(self.stream, self.consumer, delivery):
            await self._attempt_observed(delivery, capped=capped)

    async def _attempt_observed(self, delivery: Delivery, *, capped: bool) -> None:
        waits = 0
        while True:
            started = time.time()
            envelope: Envelope | None = None
            try:
                outcome = await self._early_dead_letter(delivery, started, capped)
                if outcome is None:
                    envelope = self.stage.decode(delivery)
                    outcome = await self.stage.handle(envelope, delivery)
            except ContractError as exc:
                outcome = self._dead_letter(delivery, started, exc.reason, exc.detail, envelope,
                                            exc)  # fmt: skip
            except PermanentError as exc:
                outcome = self._dead_letter(delivery, started, exc.reason, exc.detail, envelope)
            except STAGE_REDIS_UNAVAILABLE as exc:
                # The stage's own Redis calls (budget ledger, rate limits) met an outage or an
                # out-of-memory Redis: not the event's fault, so it costs no delivery. Wait and
                # run the same delivery again (a peer may take the entry meanwhile: then the
                # fence makes this worker's commit a no-op).
                delay = equal_jitter(waits, base=0.2, cap=5.0)
                log.warning("stage_waiting_for_redis", entry_id=delivery.entry_id,
                            error=str(exc)[:200], retry_in_s=round(delay, 2))  # fmt: skip
                waits += 1
                await asyncio.sleep(delay)
                continue
            except Exception as exc:
                await self._retry_or_give_up(delivery, started, envelope, exc)
                return
            await self._commit(delivery, outcome)
            return

    async def _early_dead_letter(
        self, delivery: Delivery, started: float, capped: bool
    ) -> Outcome | None:
        if delivery.fields is None:
            detail = "entry was trimmed from the stream while still pending"
            return self._dead_letter(delivery, started, TRIMMED, detail, None)
        if capped and delivery.count > self.settings.max_deliveries:
            last_error = await self.reclaimer.last_error(self._event_id(delivery, None))
            detail = f"delivered {delivery.count} times; last error: {last_error or 'worker lost'}"
            return self._dead_letter(delivery, started, MAX_DELIVERIES, detail, None)
        return None

    async def _retry_or_give_up(
        self, delivery: Delivery, started: float, envelope: Envelope | None, exc: Exception
    ) -> None:
        error = f"{type(exc).__name__}: {exc}"[:500]
        event_id = self._event_id(delivery, envelope)
        self.observer.failed(getattr(exc, "reason", type(exc).__name__))
        if delivery.count >= self.settings.max_deliveries:
            detail = f"failed on all {delivery.count} deliveries; last error: {error}"
            outcome = self._dead_letter(delivery, started, MAX_DELIVERIES, detail, envelope)
            await self._commit(delivery, outcome)
            return
        log.info("retrying", event_id=event_id, delivery=delivery.count, error=error[:200])
        with contextlib.suppress(*REDIS_UNAVAILABLE):
            await note_failure(
                self._redis, self.keys, event_id, error, self.settings.run_retention_s
            )
        delay = equal_jitter(delivery.count - 1, base=self.settings.retry_base_s,
                             cap=self.settings.retry_cap_s)  # fmt: skip
        await asyncio.sleep(delay)
        redelivery = await self.reclaimer.redeliver(delivery)
        if redelivery is not None:
            await self._process(redelivery)

    def _dead_letter(
        self,
        delivery: Delivery,
        started: float,
        reason: str,
        detail: str,
        envelope: Envelope | None,
        error: ContractError | None = None,
    ) -> Outcome:
        return dead_letter_outcome(
            dlq_stream=self.keys.dlq,
            service=self.group,
            consumer=self.consumer,
            delivery=delivery,
            event_id=self._event_id(delivery, envelope, error),
            reason=reason,
            detail=detail,
            started_at=started,
            envelope=envelope,
            errors=error.errors if error else None,
        )

    def _event_id(
        self, delivery: Delivery, envelope: Envelope | None, error: ContractError | None = None
    ) -> str:
        if envelope is not None:
            return envelope.event_id
        if error is not None and error.event_id:
            return error.event_id
        if delivery.fields and b"event_id" in delivery.fields:
            return as_text(delivery.fields[b"event_id"])
        return default_event_id(delivery.entry_id)

    async def _commit(self, delivery: Delivery, outcome: Outcome) -> None:
        step = evolve(
            outcome.step, consumer=self.consumer, entry_id=delivery.entry_id,
            delivery=delivery.count,
        )  # fmt: skip
        publishes = self.observer.stamp_publishes(outcome, delivery)
        outcome = evolve(outcome, step=step, publishes=publishes)
        self._committing.add(delivery.entry_id)
        status = await self.committer.commit(delivery.entry_id, outcome)
        self.observer.committed(outcome, status.name.lower())
        log.info(
            "stage_outcome",
            event_id=outcome.event_id,
            stage=self.group,
            outcome=step.outcome,
            status=outcome.status,
            reason=outcome.reason,
            commit=status.name.lower(),
            entry_id=delivery.entry_id,
            delivery=delivery.count,
            duration_ms=round((step.ended_at - step.started_at) * 1000, 2),
        )
        if status is CommitStatus.STALE:
            log.warning(
                "stale_commit_skipped", event_id=outcome.event_id, entry_id=delivery.entry_id
            )


async def _wait_any(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
