"""F15: poison events fail on every delivery; they are dead-lettered and block nobody."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from redis.asyncio import Redis

from shared.delivery import as_text
from shared.keys import Keys
from tests.audit import publish_figures, settled
from tests.fault.load import Producer, event_ids
from tests.fault.processes import FAULT_ENV, Fleet, rigged

pytestmark = [pytest.mark.fault, pytest.mark.timeout(120)]

MAX_DELIVERIES = int(FAULT_ENV["BATON_MAX_DELIVERIES"])
POISON = {"FAULT_MODE": "fail", "FAULT_MARKER": "poison"}


async def test_poison_events_are_dead_lettered_after_five_deliveries_and_others_answered(
    fleet: Fleet, client: Redis, keys: Keys, tmp_path: Path
) -> None:
    assert MAX_DELIVERIES == 5
    for service in ("intake", "validator", "responder"):
        fleet.spawn(service)
    for _ in range(2):
        fleet.spawn("triage", rigged("triage"), env=POISON)
    await fleet.wait_started()
    producer = Producer(client, keys)
    poison = event_ids("poison", 10)
    healthy = event_ids("healthy", 300)
    # Poison first and mixed in, so a head-of-line block would hold the healthy events up.
    await producer.post_many(poison[:5])
    await producer.post_many(healthy[:150])
    await producer.post_many(poison[5:])
    await producer.post_many(healthy[150:])

    report = await settled(client, keys, producer.acknowledged, timeout=90)
    report.assert_ok()

    dead = {as_text(e["event_id"]): e for e in report.entries["dlq"]}
    assert sorted(dead) == poison, "only the poison events are dead-lettered"
    for event_id in poison:
        entry = dead[event_id]
        assert as_text(entry["reason"]) == "max_deliveries"
        assert as_text(entry["stage"]) == "triage"
        assert int(entry["deliveries"]) == MAX_DELIVERIES
        assert "RiggedError" in as_text(entry["detail"])
        run = report.runs[event_id]
        assert (run["status"], run["reason"]) == ("dead_lettered", "max_deliveries")
        last = report.steps[event_id][-1]
        assert (last["stage"], last["outcome"], last["delivery"]) == (
            "triage", "dead_lettered", MAX_DELIVERIES
        )  # fmt: skip
    # Exactly max_deliveries attempts each, no more, no fewer.
    attempts = Counter(r["event_id"] for r in fleet.records("fault_failing"))
    assert attempts == Counter({e: MAX_DELIVERIES for e in poison})
    answered = report.count("responses") + report.count("escalations")
    assert answered == len(healthy)
    assert not fleet.crashed()
    assert not fleet.tracebacks()
    publish_figures("poison", {**report.figures(), "attempts": sum(attempts.values())}, tmp_path)
