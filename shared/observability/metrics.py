"""Prometheus metrics of one service process, on a registry of its own (no globals).

Served on ``/metrics`` at ``BATON_METRICS_PORT`` when set.
"""

from __future__ import annotations

from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.metrics import MetricWrapperBase

from shared.runtime.streamstats import GroupState

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
)
BREAKER_STATES = {"closed": 0.0, "half_open": 0.5, "open": 1.0}

M = TypeVar("M", bound=MetricWrapperBase)


class Metrics:
    """Every metric a Baton service exports. Labels stay low-cardinality (no event ids)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._children: dict[tuple[int, tuple[str, ...]], MetricWrapperBase] = {}
        r = self.registry
        self.events = Counter(
            "baton_events_processed", "Stage outcomes committed", ["stage", "outcome"], registry=r
        )
        self.failures = Counter(
            "baton_events_failed",
            "Handler failures (retried or not)",
            ["stage", "reason"],
            registry=r,
        )
        self.dead_letters = Counter(
            "baton_events_dead_lettered", "Events sent to the DLQ", ["stage", "reason"], registry=r
        )
        self.escalations = Counter(
            "baton_events_escalated", "Events sent to a human", ["stage", "reason"], registry=r
        )
        self.duration = Histogram(
            "baton_processing_duration_seconds",
            "Decode to commit",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inflight = Gauge("baton_inflight_events", "Events in flight", ["stage"], registry=r)
        self.llm_tokens = Counter(
            "baton_llm_tokens", "LLM tokens", ["agent", "model", "direction"], registry=r
        )
        self.llm_cost = Counter(
            "baton_llm_cost_usd", "LLM spend in USD", ["agent", "model"], registry=r
        )
        self.llm_duration = Histogram(
            "baton_llm_call_duration_seconds",
            "LLM call latency",
            ["agent", "model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.llm_errors = Counter(
            "baton_llm_errors", "Failed LLM calls", ["agent", "model", "reason"], registry=r
        )
        self.breaker = Gauge(
            "baton_llm_breaker_state", "0 closed, 0.5 half-open, 1 open", ["agent"], registry=r
        )
        self.lag = Gauge(
            "baton_stream_lag",
            "Entries not yet delivered to the group",
            ["stream", "group"],
            registry=r,
        )
        self.pending = Gauge(
            "baton_stream_pending",
            "Delivered, not yet acknowledged",
            ["stream", "group"],
            registry=r,
        )
        self.oldest_pending = Gauge(
            "baton_stream_oldest_pending_age_seconds",
            "Idle time of the oldest pending entry",
            ["stream", "group"],
            registry=r,
        )

    def child(self, metric: M, *labels: str) -> M:
        """``metric.labels(*labels)``, remembered: the hot path asks for the same few children
        for every event, and prometheus_client validates and locks on each ``labels`` call."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found  # type: ignore[return-value]

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)

    def observe_group(self, stream: str, group: GroupState) -> None:
        labels = (stream, group.name)
        self.lag.labels(*labels).set(group.lag or 0)
        self.pending.labels(*labels).set(group.pending)
        self.oldest_pending.labels(*labels).set((group.oldest_pending_idle_ms or 0) / 1000)
