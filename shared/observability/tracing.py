"""OpenTelemetry tracing: one trace per event across every service and hop.

The W3C ``traceparent``/``tracestate`` of the last ``send`` span travel in each envelope (and as a
flat ``traceparent`` stream field). Each delivery becomes a ``process <stream>`` CONSUMER span that
is parented on, and linked to, that context; each publish a ``send <stream>`` PRODUCER span whose
context the next stage continues from; each LLM call a ``chat <model>`` CLIENT span with token
counts (never prompts or replies). Spans follow the messaging and GenAI semantic conventions.

Configured by the standard variables. With no ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) nothing is exported and spans are not recorded: trace ids
still propagate (logs keep them) at next to no cost.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Sampler
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

PROPAGATOR = TraceContextTextMapPropagator()
MESSAGING_SYSTEM = "redis"


def exporter_endpoint(env: Mapping[str, str]) -> str | None:
    return env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")


class Tracing:
    """A process's tracer. Build it once at start-up (:meth:`from_env`) and pass it down."""

    def __init__(
        self, provider: TracerProvider, *, capture_content: bool = False, enabled: bool = True
    ) -> None:
        self.provider = provider
        self.enabled = enabled
        """False when nothing is exported: then no spans are made and contexts pass through."""
        self.tracer = provider.get_tracer("baton")
        self.capture_content = capture_content

    @classmethod
    def from_env(cls, service: str, env: Mapping[str, str] | None = None) -> Tracing:
        env = os.environ if env is None else env
        resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or service})
        endpoint = exporter_endpoint(env)
        sampler: Sampler | None = None if endpoint else ALWAYS_OFF
        provider = TracerProvider(resource=resource, sampler=sampler)
        if endpoint:
            provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(endpoint, env)))
        capture = env.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "").lower()
        capture_content = capture in ("true", "span_only", "span_and_event")
        return cls(provider, capture_content=capture_content, enabled=bool(endpoint))

    @classmethod
    def with_processor(cls, service: str, processor: SpanProcessor) -> Tracing:
        """Always-on tracing into ``processor`` (tests use an in-memory or HTTP exporter)."""
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(processor)
        return cls(provider)

    def shutdown(self) -> None:
        """Flush and stop exporting (call on SIGTERM, after the worker stopped)."""
        self.provider.shutdown()

    @contextmanager
    def process(
        self, stream: str, group: str, consumer: str, entry_id: str, traceparent: bytes | None
    ) -> Iterator[Span]:
        """The CONSUMER span of one delivery, parented on and linked to the producer's context."""
        parent = _extract(traceparent)
        producer = trace.get_current_span(parent).get_span_context()
        links = [Link(producer)] if producer.is_valid else []
        attributes = {
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.operation.name": "process",
            "messaging.operation.type": "process",
            "messaging.destination.name": stream,
            "messaging.consumer.group.name": group,
            "messaging.client.id": consumer,
            "messaging.message.id": entry_id,
        }
        with self.tracer.start_as_current_span(
            f"process {stream}",
            context=parent,
            kind=SpanKind.CONSUMER,
            links=links,
            attributes=attributes,
            record_exception=True,
            set_status_on_exception=True,
        ) as span:
            yield span

    def send_context(self, stream: str, event_id: str) -> str | None:
        """A PRODUCER span for one publish; the ``traceparent`` the next stage continues from.

        The span marks the decision to publish; the XADD itself happens in the batch commit.
        """
        attributes = {
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.operation.name": "send",
            "messaging.operation.type": "send",
            "messaging.destination.name": stream,
            "baton.event_id": event_id,
        }
        with self.tracer.start_as_current_span(
            f"send {stream}", kind=SpanKind.PRODUCER, attributes=attributes
        ):
            carrier: dict[str, str] = {}
            PROPAGATOR.inject(carrier)
        return carrier.get("traceparent")

    def replay_context(self, stream: str, event_id: str, original: bytes | None) -> str | None:
        """A new trace for a replayed dead letter, linked to the trace it failed in."""
        linked = trace.get_current_span(_extract(original)).get_span_context()
        attributes: dict[str, str | bool] = {
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.operation.name": "send",
            "messaging.destination.name": stream,
            "baton.event_id": event_id,
            "baton.replay": True,
        }
        with self.tracer.start_as_current_span(
            f"replay {stream}",
            context=Context(),
            kind=SpanKind.PRODUCER,
            links=[Link(linked)] if linked.is_valid else [],
            attributes=attributes,
        ):
            carrier: dict[str, str] = {}
            PROPAGATOR.inject(carrier)
        return carrier.get("traceparent")

    @contextmanager
    def llm_call(self, provider: str, model: str, agent: str) -> Iterator[Span]:
        """The CLIENT span of one LLM call (GenAI conventions); the caller records usage."""
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "gen_ai.output.type": "json",
            "gen_ai.agent.name": agent,
        }
        with self.tracer.start_as_current_span(
            f"chat {model}", kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            yield span


def record_usage(span: Span, model: str, input_tokens: int, output_tokens: int) -> None:
    span.set_attribute("gen_ai.response.model", model)
    span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", output_tokens)


def mark_outcome(span: Span, attributes: Mapping[str, Any], error: str | None = None) -> None:
    """Verdicts, routes, escalations and dead letters, as attributes (and an event)."""
    for key, value in attributes.items():
        if value is not None and isinstance(value, str | int | float | bool):
            span.set_attribute(f"baton.{key}", value)
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error[:200]))


def passthrough(traceparent: bytes | None) -> bytes:
    """With tracing off: keep the incoming context, or start one, so trace ids still join logs."""
    if traceparent:
        return traceparent
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-00".encode()


def ids_of(traceparent: bytes | None) -> tuple[str, str] | None:
    parts = traceparent.decode("ascii", "replace").split("-") if traceparent else []
    return (parts[1], parts[2]) if len(parts) == 4 else None


def current_ids() -> tuple[str, str] | None:
    """The current trace and span id as hex, for log lines."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def _extract(traceparent: bytes | None) -> Context | None:
    if not traceparent:
        return None
    return PROPAGATOR.extract({"traceparent": traceparent.decode("ascii", "replace")})


def _otlp_exporter(endpoint: str, env: Mapping[str, str]) -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter,
    )

    traces_endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    url = traces_endpoint or endpoint.rstrip("/") + "/v1/traces"
    return OTLPSpanExporter(endpoint=url)
