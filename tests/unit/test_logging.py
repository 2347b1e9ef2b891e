"""Log lines written during a stage attempt carry its ids."""

from __future__ import annotations

import io

import orjson
import structlog

from shared.observability.logging import configure_logging, enter_attempt, leave_attempt
from shared.pipeline.settings import BatonSettings


def lines(out: io.BytesIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_lines_inside_an_attempt_carry_its_ids_and_lines_after_it_do_not() -> None:
    out = io.BytesIO()
    configure_logging(BatonSettings(log_level="info"), to=out)
    log = structlog.get_logger("test")
    try:
        context: dict[str, object] = {"event_id": "e-1", "stage": "triage"}
        token = enter_attempt(context)
        log.info("inside", stage="own value wins")
        context["trace_id"] = "abc"
        log.info("later")
        leave_attempt(token)
        log.info("after")
    finally:
        structlog.reset_defaults()
    inside, later, after = lines(out)
    assert (inside["event_id"], inside["stage"]) == ("e-1", "own value wins")
    assert (later["event_id"], later["trace_id"]) == ("e-1", "abc")
    assert "event_id" not in after


def test_a_level_is_written_only_when_the_configured_level_admits_it() -> None:
    assert BatonSettings(log_level="info").logs_at("info")
    assert BatonSettings(log_level="debug").logs_at("info")
    assert not BatonSettings(log_level="warning").logs_at("info")
    assert BatonSettings(log_level="warning").logs_at("error")
