"""F15: poison events fail on every delivery; they are dead-lettered and block nobody."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from redis.asyncio import Redis

from shared.pipeline.keys import Keys
from shared.runtime.delivery import as_text
from tests.audit import publish_figures, settled
from tests.fault.load import Producer, event_ids
from tests.fault.processes import FAULT_ENV, Fleet, rigged
from tests.helpers import wait_for

pytestmark = [pytest.mark.fault, pytest.mark.timeout(240)]

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


CRASH = {"FAULT_MODE": "crash", "FAULT_MARKER": "poison"}


async def test_poison_events_that_crash_workers_take_no_healthy_event_down_with_them(
    fleet: Fleet, client: Redis, keys: Keys, tmp_path: Path
) -> None:
    """Each crash also kills the healthy events in flight beside the poison, and they are
    delivered again with it; only the poison may end in the dead-letter stream."""
    for service in ("intake", "validator", "responder"):
        fleet.spawn(service)
    for _ in range(2):
        fleet.spawn("triage", rigged("triage"), env=CRASH)
    await fleet.wait_started()
    producer = Producer(client, keys)
    poison = event_ids("poison", 10)
    stop_posting, stop_supervising = asyncio.Event(), asyncio.Event()
    supervisor = asyncio.create_task(fleet.supervise(stop_supervising))
    posting = asyncio.create_task(producer.post_until("healthy", stop_posting, rate_per_s=300))
    try:
        await producer.post_many(poison)
        await wait_for(lambda: _at_least(producer, 1500), timeout=60)
        stop_posting.set()
        await posting
        report = await settled(client, keys, producer.acknowledged, timeout=150)
    finally:
        stop_posting.set()
        stop_supervising.set()
        restarts = await supervisor

    crashes = fleet.records("fault_crashing")
    attempts = Counter(r["event_id"] for r in crashes)
    dead = {as_text(e["event_id"]): e for e in report.entries["dlq"]}
    publish_figures(
        "crashing_poison",
        {**report.figures(), "worker_crashes": len(fleet.crashed()), "restarts": restarts,
         "poison_deliveries": sorted(int(e["deliveries"]) for e in dead.values()),
         "healthy_dead_lettered": len([e for e in dead if e not in poison])},
        tmp_path,
    )  # fmt: skip
    report.assert_ok()
    assert sorted(dead) == poison, "only the poison events are dead-lettered"
    for event_id in poison:
        assert as_text(dead[event_id]["reason"]) == "max_deliveries"
        # Never run more than max_deliveries times, and dead-lettered only after a run alone.
        assert 1 <= attempts[event_id] <= MAX_DELIVERIES
        alone = [k for k in report.runs[event_id] if k.startswith("alone:triage:")]
        assert len(alone) == 1
    assert set(attempts) == set(poison), "only poison events crash workers"
    assert len(fleet.crashed()) == len(crashes) <= len(poison) * MAX_DELIVERIES
    assert report.count("responses") + report.count("escalations") == len(report.posted) - 10
    assert not fleet.tracebacks()


async def _at_least(producer: Producer, count: int) -> bool:
    return len(producer.acknowledged) >= count
