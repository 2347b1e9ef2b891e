"""With no collector reachable, span exports fail as one JSON warning now and then."""

from __future__ import annotations

import io
import logging
import socket
from collections.abc import Iterator

import orjson
import pytest
import structlog
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from shared.observability.logging import configure_logging
from shared.observability.otellog import OTEL_LOGGER, FoldedWarnings, quiet_exports
from shared.observability.tracing import Tracing, _otlp_exporter
from shared.pipeline.settings import BatonSettings


@pytest.fixture
def out() -> Iterator[io.BytesIO]:
    buffer = io.BytesIO()
    configure_logging(BatonSettings(), to=buffer)
    yield buffer
    structlog.reset_defaults()
    otel = logging.getLogger(OTEL_LOGGER)
    for handler in list(otel.handlers):
        otel.removeHandler(handler)
    otel.propagate = True


def lines(buffer: io.BytesIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_burst_of_export_errors_is_one_json_warning_per_interval(out: io.BytesIO) -> None:
    now = [100.0]
    handler = quiet_exports(interval_s=60.0, clock=lambda: now[0])
    exporter_log = logging.getLogger("opentelemetry.exporter.otlp.common.http")
    for _ in range(50):
        exporter_log.error("Failed to export %s batch code: %s", "span", 503)
    now[0] += 60.0
    exporter_log.warning("Transient error encountered while exporting span batch")
    found = lines(out)
    assert [line["event"] for line in found] == ["trace_export_failed"] * 2
    assert found[0]["detail"] == "Failed to export span batch code: 503"
    assert found[1]["folded_since_last"] == 49
    assert isinstance(handler, FoldedWarnings)


def test_a_real_exporter_with_no_collector_writes_json_only(
    out: io.BytesIO, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")
    exporter = _otlp_exporter(f"http://127.0.0.1:{port}", {})
    tracing = Tracing.with_processor("intake", SimpleSpanProcessor(exporter))
    for n in range(5):
        with tracing.tracer.start_as_current_span(f"span {n}"):
            pass
    tracing.shutdown()
    found = lines(out)
    assert [line["event"] for line in found] == ["trace_export_failed"]
    assert found[0]["level"] == "warning"
    assert capfd.readouterr().err == ""  # nothing in plain text
