"""F2: a worker frozen mid-event past the reclaim threshold comes back as a zombie."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from redis.asyncio import Redis

from shared.pipeline.keys import Keys
from tests.audit import publish_figures, settled
from tests.fault.load import Producer, event_ids, payload
from tests.fault.processes import Fleet, rigged, wait_any_logged

pytestmark = [pytest.mark.fault, pytest.mark.timeout(120)]

# Triage replicas that hold the marked event on its first delivery and, once abandoned, finish
# it anyway (an uninterruptible call): the zombie really tries to commit after the peer did.
HOLD = {"FAULT_MODE": "hold", "FAULT_MARKER": "zombie", "FAULT_HOLD_S": "60",
        "FAULT_HOLD_STUBBORN": "1"}  # fmt: skip


async def test_zombie_resumed_after_a_peer_finished_its_event_publishes_nothing(
    fleet: Fleet, client: Redis, keys: Keys, tmp_path: Path
) -> None:
    for service in ("intake", "validator", "responder"):
        fleet.spawn(service)
    triage = [fleet.spawn("triage", rigged("triage"), env=HOLD) for _ in range(2)]
    await fleet.wait_started()
    producer = Producer(client, keys)
    await producer.post("zombie-1", payload("zombie-1", "I was charged twice on my invoice"))
    await producer.post_many(event_ids("bystander", 20))

    zombie, held = await wait_any_logged(triage, "fault_holding", event_id="zombie-1")
    (peer,) = [w for w in triage if w is not zombie]
    zombie_pid = zombie.pid
    zombie.freeze()
    # Frozen, it stops keeping its entry alive; the peer takes it over once idle past the
    # threshold, and (not held on a second delivery) finishes the event.
    await peer.wait_logged("reclaimed", timeout=30, entry_id=held["entry_id"])
    report = await settled(client, keys, producer.acknowledged, timeout=60)
    report.assert_ok()

    zombie.thaw()
    # The zombie notices, is told to drop the event, finishes it anyway, and its commit is fenced.
    await zombie.wait_logged("ownership_lost", timeout=30, entry_id=held["entry_id"])
    late = await zombie.wait_logged("stage_outcome", timeout=30, event_id="zombie-1")
    assert late["commit"] == "stale"

    report = await settled(client, keys, producer.acknowledged, timeout=60)
    report.assert_ok()
    assert report.places()["zombie-1"] == Counter({"responses": 1})
    triage_steps = [s for s in report.steps["zombie-1"] if s["stage"] == "triage"]
    assert len(triage_steps) == 1
    assert triage_steps[0]["entry_id"] == held["entry_id"]
    assert triage_steps[0]["delivery"] == 2
    assert zombie.alive
    assert zombie.pid == zombie_pid
    assert not fleet.crashed()
    assert not fleet.tracebacks()
    publish_figures(
        "zombie",
        {**report.figures(), "zombie_commit": late["commit"],
         "stale_commits": fleet.count("stale_commit_skipped")},
        tmp_path,
    )  # fmt: skip
