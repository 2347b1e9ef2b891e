"""One trace per event across four worker processes, JSON logs without PII, /metrics counts."""

from __future__ import annotations

import urllib.request
from collections import Counter
from pathlib import Path

import orjson
import pytest
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis

from services.pipeline import PIPELINE
from shared.ops.embedded import EmbeddedRedis, free_port
from shared.pipeline.keys import Keys
from tests.fakes.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.fault.processes import Fleet
from tests.helpers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

EMAIL, PHONE, CARD = "jane.doe@example.com", "+44 20 7946 0958", "4111 1111 1111 1111"
EVENTS = {
    "obs-ok": {"text": f"I was charged twice on my invoice, card {CARD}, mail {EMAIL}, "
                       f"phone {PHONE}"},
    "obs-legal": {"text": "My lawyer will start legal action against you"},
}  # fmt: skip
CONSUMER, PRODUCER = SpanKind.CONSUMER.value + 1, SpanKind.PRODUCER.value + 1  # OTLP numbering


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def spans_of(spans: list[ReceivedSpan], event_id: str) -> list[ReceivedSpan]:
    traces = {s.trace_id for s in spans if s.attributes.get("baton.event_id") == event_id}
    assert len(traces) == 1, f"{event_id} is in {len(traces)} traces"
    return [s for s in spans if s.trace_id in traces]


async def test_each_event_is_one_trace_with_a_span_per_hop_and_logs_and_metrics_match(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str, tmp_path: Path
) -> None:
    keys = Keys(prefix)
    ports = {service: free_port() for service in PIPELINE.services}
    with OtlpReceiver() as receiver:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
        with Fleet(redis_server.url, prefix, tmp_path / "logs", env=env) as fleet:
            for service in PIPELINE.services:
                fleet.spawn(service, env={"BATON_METRICS_PORT": str(ports[service]),
                                          "OTEL_SERVICE_NAME": service})  # fmt: skip
            await fleet.wait_started()
            for event_id, body in EVENTS.items():
                payload = orjson.dumps({**body, "event_id": event_id})
                await redis.xadd(keys.stream("intake"), {"payload": payload})
            await redis.xadd(keys.stream("intake"), {"payload": b'{"text": "cut'})

            async def settled() -> bool:
                streams = (keys.responses, keys.escalations, keys.dlq)
                return sum([await redis.xlen(s) for s in streams]) == 3

            await wait_for(settled)
            metrics = {service: scrape(port) for service, port in ports.items()}
            logs = [w.log_text() for w in fleet.workers]
        spans = receiver.snapshot()  # workers flushed their spans on SIGTERM

    ok = spans_of(spans, "obs-ok")
    process = [s for s in ok if s.kind == CONSUMER]
    assert Counter(s.service for s in process) == {"intake": 1, "triage": 1, "responder": 1,
                                                   "validator": 3}  # fmt: skip
    sends = {s.span_id: s for s in ok if s.kind == PRODUCER}
    for span in process:
        if span.service != "intake":  # intake starts the trace from a producer without one
            assert span.parent_span_id in sends, span.name
            assert (span.trace_id, span.parent_span_id) in span.links
    chats = [s for s in ok if s.name.startswith("chat ")]
    assert {s.service for s in chats} == {"intake", "triage", "responder"}
    assert all(s.attributes["gen_ai.usage.input_tokens"] > 0 for s in chats)
    final = [s for s in process if s.attributes.get("baton.status") == "responded"]
    assert len(final) == 1

    legal = [s for s in spans_of(spans, "obs-legal") if s.kind == CONSUMER]
    assert any(s.attributes.get("baton.status") == "escalated" and "escalated" in s.events
               for s in legal)  # fmt: skip
    dead = [s for s in spans if s.attributes.get("baton.status") == "dead_lettered"]
    assert len(dead) == 1
    assert dead[0].status_code == 2  # ERROR
    assert dead[0].attributes["baton.reason"] == "parse_error"
    print(f"obs-ok: {len(ok)} spans in one trace")

    for text in logs:
        assert all(secret not in text for secret in (EMAIL, PHONE, CARD))
        for line in text.splitlines():
            record = orjson.loads(line) if line.startswith("{") else {}
            if record.get("event") == "stage_outcome":
                assert {"event_id", "stage", "trace_id", "span_id"} <= record.keys()

    def count(service: str, outcome: str) -> float:
        name = f'baton_events_processed_total{{outcome="{outcome}",stage="{service}"}}'
        return metrics[service].get(name, 0)

    assert count("intake", "ok") == 2
    assert count("intake", "dead_lettered") == 1
    assert count("validator", "responded") == 1
    assert count("validator", "escalated") == 1
    assert (
        metrics["intake"]['baton_events_dead_lettered_total{reason="parse_error",stage="intake"}']
        == 1
    )
    assert any(
        k.startswith("baton_llm_tokens_total") and v > 0 for k, v in metrics["triage"].items()
    )
