"""An attempt's in-flight gauge and log context are undone however the attempt ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Span

from shared.observability.logging import current_attempt
from shared.observability.metrics import Metrics
from shared.observability.observe import Observer
from shared.observability.tracing import Tracing
from shared.runtime.delivery import Delivery

DELIVERY = Delivery("s", "1-0", {b"event_id": b"e-1"}, 1)


def inflight(observer: Observer) -> float | None:
    return observer.metrics.registry.get_sample_value("baton_inflight_events", {"stage": "triage"})


class BrokenTracing(Tracing):
    @contextmanager
    def process(self, *args: object) -> Iterator[Span]:
        raise RuntimeError("exporter misconfigured")
        yield  # pragma: no cover


def test_an_attempt_is_counted_in_flight_only_while_it_runs_even_when_it_raises() -> None:
    tracing = Tracing.with_processor("triage", SimpleSpanProcessor(InMemorySpanExporter()))
    observer = Observer("triage", tracing, Metrics())
    with observer.attempt("s", "c", DELIVERY):
        assert inflight(observer) == 1
        context = current_attempt()
        assert context is not None
        assert (context["stage"], context["event_id"]) == ("triage", "e-1")
        assert len(context["trace_id"]) == 32
    with pytest.raises(ValueError, match="handler"), observer.attempt("s", "c", DELIVERY):
        raise ValueError("handler failed")
    assert inflight(observer) == 0
    assert current_attempt() is None


def test_a_span_that_cannot_start_leaves_nothing_counted() -> None:
    tracing = BrokenTracing.with_processor("triage", SimpleSpanProcessor(InMemorySpanExporter()))
    observer = Observer("triage", tracing, Metrics())
    with pytest.raises(RuntimeError, match="exporter"), observer.attempt("s", "c", DELIVERY):
        pass  # pragma: no cover
    assert inflight(observer) in (None, 0.0)  # never counted, or counted out
    assert current_attempt() is None
