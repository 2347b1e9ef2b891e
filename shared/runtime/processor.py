"""Running a stage on one delivery, and making sure its outcome is committed, whatever happens.

The stage's output, a contract or guardrail error (dead letter), a transient failure (retried
with backoff up to ``max_deliveries``, then dead-lettered), or an outage that is not the event's
(a Redis outage in the stage's own calls, an LLM provider whose breaker is open: waited out,
costing no delivery): each ends in exactly one fenced commit, or in a
redelivery of the entry. Handlers never acknowledge anything themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from redis.asyncio import Redis

from shared.errors import (
    REDIS_UNAVAILABLE,
    STAGE_REDIS_UNAVAILABLE,
    ContractError,
    PermanentError,
    UnavailableError,
)
from shared.runtime.backoff import equal_jitter
from shared.runtime.commit import CommitStatus, Committer
from shared.runtime.deadletter import MAX_DELIVERIES, TRIMMED, dead_letter_outcome
from shared.runtime.delivery import Delivery, as_text, default_event_id
from shared.runtime.hooks import Hooks
from shared.runtime.outcome import Outcome, evolve
from shared.runtime.reclaimer import Reclaimer
from shared.runtime.runrecord import mark_alone, note_failure
from shared.runtime.settings import RuntimeSettings
from shared.runtime.stage import Event, Stage

log = structlog.get_logger("baton.consumer")

_COMMIT_NAMES = {status: status.name.lower() for status in CommitStatus}


class Processor:
    """Attempts of ``stage`` as consumer ``consumer`` of its group, on entries of ``stream``.

    Args:
        committer: the fenced commit every outcome goes through.
        reclaimer: the delivery count's source of truth (a retry takes its entry back through
            it) and the place the last error of an event is kept.
        process_again: how a redelivery is run (the worker's own path, isolation included).
        hooks: what observes each attempt and commit (tracing, metrics, log context).
    """

    def __init__(
        self,
        stage: Stage[Any],
        settings: RuntimeSettings,
        consumer: str,
        redis: Redis,
        hooks: Hooks,
        committer: Committer,
        reclaimer: Reclaimer,
        process_again: Callable[[Delivery], Awaitable[None]],
    ) -> None:
        self.stage = stage
        self.settings = settings
        self.keys = settings.keys
        self.group = stage.service
        self.stream = stage.stream
        self.consumer = consumer
        self._redis = redis
        self.hooks = hooks
        self.committer = committer
        self.reclaimer = reclaimer
        self._process_again = process_again
        self.committing: set[str] = set()
        """Entries whose outcome went to the commit: too late to abandon them."""
        self._log_outcomes = settings.logs_at("info")

    async def mark_alone(self, delivery: Delivery) -> bool:
        """Record in the run record that this entry runs alone now; False if it already did."""
        try:
            envelope: Event | None = self.stage.decode(delivery)
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

    async def attempt(self, delivery: Delivery, *, capped: bool = True) -> None:
        """Run the stage on ``delivery`` and commit its outcome; on a failure, retry it or
        dead-letter it. ``capped``: dead-letter it outright once past ``max_deliveries``."""
        with self.hooks.attempt(self.stream, self.consumer, delivery):
            await self._attempt_observed(delivery, capped=capped)

    async def _attempt_observed(self, delivery: Delivery, *, capped: bool) -> None:
        waits = 0
        while True:
            started = time.time()
            envelope: Event | None = None
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
            except UnavailableError as exc:
                # The provider is down for every event (its breaker is open): not this event's
                # failure. It stays pending here (kept alive, no delivery charged) and runs again
                # once the stage is ready; if this worker dies meanwhile, a peer reclaims it.
                self.hooks.failed(exc.reason)
                log.warning("stage_waiting_for_provider", entry_id=delivery.entry_id,
                            reason=exc.reason)  # fmt: skip
                await self.stage.ready()
                await asyncio.sleep(equal_jitter(waits, base=0.05, cap=1.0))
                waits += 1
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
        self, delivery: Delivery, started: float, envelope: Event | None, exc: Exception
    ) -> None:
        error = f"{type(exc).__name__}: {exc}"[:500]
        event_id = self._event_id(delivery, envelope)
        self.hooks.failed(getattr(exc, "reason", type(exc).__name__))
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
            await self._process_again(redelivery)

    def _dead_letter(
        self,
        delivery: Delivery,
        started: float,
        reason: str,
        detail: str,
        envelope: Event | None,
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
        self, delivery: Delivery, envelope: Event | None, error: ContractError | None = None
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
        publishes = self.hooks.stamp_publishes(outcome, delivery)
        outcome = evolve(outcome, step=step, publishes=publishes)
        self.committing.add(delivery.entry_id)
        status = await self.committer.commit(delivery.entry_id, outcome)
        commit = _COMMIT_NAMES[status]
        self.hooks.committed(outcome, commit)
        if self._log_outcomes:
            log.info(
                "stage_outcome",
                event_id=outcome.event_id,
                stage=self.group,
                outcome=step.outcome,
                status=outcome.status,
                reason=outcome.reason,
                commit=commit,
                entry_id=delivery.entry_id,
                delivery=delivery.count,
                duration_ms=round((step.ended_at - step.started_at) * 1000, 2),
            )
        if status is CommitStatus.STALE:
            log.warning(
                "stale_commit_skipped", event_id=outcome.event_id, entry_id=delivery.entry_id
            )
