"""Observability around every stage attempt: a trace span, log context and metrics.

:class:`Observer` is the :class:`shared.runtime.hooks.Hooks` a service process runs with: the
runtime
calls it around each attempt and commit; handlers never do. One per process, built at start-up
from the settings and the standard ``OTEL_*`` variables.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Span
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.agents.llm.client import Availability, LLMClient, LLMRequest, LLMResult, T
from shared.errors import REDIS_UNAVAILABLE
from shared.observability.logging import current_attempt, enter_attempt, leave_attempt
from shared.observability.metrics import BREAKER_STATES, Metrics
from shared.observability.tracing import (
    Tracing,
    current_ids,
    ids_of,
    mark_outcome,
    passthrough,
    record_usage,
)
from shared.pipeline.keys import Keys
from shared.runtime import streamstats
from shared.runtime.delivery import Delivery
from shared.runtime.outcome import Outcome, Publish


class Observer:
    def __init__(self, service: str, tracing: Tracing, metrics: Metrics) -> None:
        self.service = service
        self.tracing = tracing
        self.metrics = metrics
        self.attempts_running = 0
        """Stage attempts under way; read by the in-flight gauge when it is scraped."""
        metrics.inflight.labels(service).set_function(lambda: self.attempts_running)
        self.durations = metrics.duration.labels(service)

    @classmethod
    def disabled(cls, service: str) -> Observer:
        """No export, metrics kept in memory: the default for embedded and test workers."""
        return cls(service, Tracing.from_env(service, env={}), Metrics())

    @classmethod
    def from_env(cls, service: str, metrics_port: int | None = None) -> Observer:
        metrics = Metrics()
        if metrics_port:
            metrics.serve(metrics_port)
        return cls(service, Tracing.from_env(service), metrics)

    def attempt(
        self, stream: str, consumer: str, delivery: Delivery
    ) -> AbstractContextManager[Span]:
        """The span and log context of one stage attempt on one delivery, and its in-flight
        gauge and duration."""
        return _Attempt(self, stream, consumer, delivery)

    def stamp_publishes(self, outcome: Outcome, delivery: Delivery) -> list[Publish]:
        """The outcome's publishes, each with a ``send`` span whose context travels in the
        entry's ``traceparent``. With tracing off, the incoming context is passed on unchanged
        (no spans are made)."""
        incoming = (delivery.fields or {}).get(b"traceparent")
        publishes = []
        for publish in outcome.publishes:
            if self.tracing.enabled:
                carrier = self.tracing.send_context(publish.stream, outcome.event_id)
                context = carrier.encode() if carrier else None
            else:
                context = incoming = passthrough(incoming)
            fields = dict(publish.fields)
            if context:
                fields[b"traceparent"] = context
            publishes.append(Publish(publish.stream, fields, publish.ledger))
        return publishes

    def committed(self, outcome: Outcome, commit: str) -> None:
        """Record a committed outcome on the current span and in the metrics."""
        step = outcome.step
        metrics = self.metrics
        metrics.child(metrics.events, self.service, step.outcome).inc()
        if outcome.status == "dead_lettered":
            metrics.child(metrics.dead_letters, self.service, outcome.reason or "").inc()
        elif outcome.status == "escalated":
            metrics.child(metrics.escalations, self.service, outcome.reason or "").inc()
        context = current_attempt()
        if context is not None:  # a raw submission's event id is known only once decoded
            context["event_id"] = outcome.event_id
        if not self.tracing.enabled:
            return
        span = trace.get_current_span()
        if not span.is_recording():
            return
        attributes: dict[str, Any] = {
            "event_id": outcome.event_id,
            "outcome": step.outcome,
            "status": outcome.status,
            "reason": outcome.reason,
            "commit": commit,
        }
        for key, value in step.decision.items():
            if isinstance(value, str | int | float | bool):
                attributes[f"decision.{key}"] = value
        mark_outcome(
            span, attributes, error=outcome.reason if step.outcome == "dead_lettered" else None
        )
        if outcome.status == "dead_lettered":
            span.add_event("dead_lettered", {"reason": outcome.reason or ""})
        elif outcome.status == "escalated":
            span.add_event("escalated", {"reason": outcome.reason or ""})

    def failed(self, reason: str) -> None:
        self.metrics.failures.labels(self.service, reason).inc()
        mark_outcome(trace.get_current_span(), {"failure": reason}, error=reason)

    async def watch_stream(
        self, redis: Redis, keys: Keys, stream: str, every_s: float, stop: asyncio.Event
    ) -> None:
        """Keep the lag, pending and oldest-pending gauges of this service's input current,
        until ``stop`` is set (set, not cancelled: a cancel mid-command can leak a socket)."""
        while not stop.is_set():
            with contextlib.suppress(*REDIS_UNAVAILABLE, ResponseError):
                for state in await streamstats.collect(redis, keys, [stream]):
                    for group in state.groups:
                        self.metrics.observe_group(state.key, group)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)

    def instrument(self, client: LLMClient, agent: str) -> LLMClient:
        return TracedLLM(client, self, agent)


class _Attempt:
    """:meth:`Observer.attempt`: a class rather than a generator, as it wraps every entry."""

    __slots__ = ("_consumer", "_delivery", "_observer", "_span", "_started", "_stream", "_token")

    def __init__(self, observer: Observer, stream: str, consumer: str, delivery: Delivery) -> None:
        self._observer = observer
        self._stream = stream
        self._consumer = consumer
        self._delivery = delivery
        self._span: AbstractContextManager[Span] | None = None

    def __enter__(self) -> Span:
        observer = self._observer
        fields = self._delivery.fields or {}
        traceparent = fields.get(b"traceparent")
        self._started = time.perf_counter()
        span: Span = INVALID_SPAN
        if observer.tracing.enabled:
            spanned = observer.tracing.process(
                self._stream, observer.service, self._consumer, self._delivery.entry_id,
                traceparent,
            )  # fmt: skip
            span = spanned.__enter__()
            self._span = spanned  # exited in __exit__ only once it was entered
            ids = current_ids()
        else:
            ids = ids_of(traceparent)
        context: dict[str, Any] = {"stage": observer.service, "delivery": self._delivery.count}
        event_id = fields.get(b"event_id")
        if event_id:
            context["event_id"] = event_id.decode("utf-8", "replace")
        if ids:
            context["trace_id"], context["span_id"] = ids
        self._token = enter_attempt(context)
        # Counted last: if starting the span raised, there is no __exit__ to count it out.
        observer.attempts_running += 1
        return span

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        leave_attempt(self._token)
        try:
            if self._span is not None:
                self._span.__exit__(kind, error, traceback)
        finally:
            observer = self._observer
            observer.attempts_running -= 1
            observer.durations.observe(time.perf_counter() - self._started)


class TracedLLM:
    """An LLM client with a ``chat <model>`` span and metrics around each call."""

    def __init__(self, client: LLMClient, observer: Observer, agent: str) -> None:
        self.client = client
        self.observer = observer
        self.agent = agent
        self.provider = "offline" if type(client).__name__ == "OfflineLLM" else "openai"

    @property
    def state(self) -> Availability:
        return self.client.state

    async def wait_until_available(self) -> None:
        self.observer.metrics.breaker.labels(self.agent).set(BREAKER_STATES[self.client.state])
        await self.client.wait_until_available()
        self.observer.metrics.breaker.labels(self.agent).set(BREAKER_STATES[self.client.state])

    async def aclose(self) -> None:
        await self.client.aclose()

    async def generate(self, request: LLMRequest[T]) -> LLMResult[T]:
        tracing = self.observer.tracing
        if not tracing.enabled:
            return await self._measured(request, None)
        with tracing.llm_call(self.provider, request.model, self.agent) as span:
            return await self._measured(request, span)

    async def _measured(self, request: LLMRequest[T], span: Span | None) -> LLMResult[T]:
        metrics = self.observer.metrics
        started = time.perf_counter()
        try:
            result = await self.client.generate(request)
        except Exception as exc:
            reason = getattr(exc, "reason", type(exc).__name__)
            metrics.llm_errors.labels(self.agent, request.model, reason).inc()
            raise
        finally:
            metrics.child(metrics.llm_duration, self.agent, request.model).observe(
                time.perf_counter() - started
            )
        usage = result.usage
        if span is not None:
            record_usage(span, result.model, usage.input_tokens, usage.output_tokens)
        tokens = metrics.llm_tokens
        metrics.child(tokens, self.agent, result.model, "input").inc(usage.input_tokens)
        metrics.child(tokens, self.agent, result.model, "output").inc(usage.output_tokens)
        metrics.child(metrics.llm_cost, self.agent, result.model).inc(result.cost_usd)
        return result
