"""Joins under faults, with real processes and signals: SIGKILLed workers while a third of the
events fan out to 2 to 5 branches, a branch's worker frozen past the reclaim threshold (a zombie
branch), and Redis itself killed -9 with AOF ``always`` while joins are open.

The auditor checks, besides every event ending exactly once in one terminal stream and nothing
left pending: every join opened closed exactly once, and was merged (one input to the composer)
exactly once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path

import pytest
from redis.asyncio import Redis

from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.keys import Keys
from tests.audit import publish_figures, settled
from tests.fault.load import SEVERAL, WITH_SEVERAL, Producer, event_ids, payload
from tests.fault.processes import Fleet, rigged, wait_any_logged
from tests.fault.test_redis_faults import outage
from tests.fault.test_worker_kills import pick_victim

pytestmark = [pytest.mark.fault, pytest.mark.timeout(420)]

MIN_EVENTS = 2000
MIN_KILLS = 20
RATE_PER_S = 150


async def test_sigkilled_workers_with_joins_lose_nothing_and_merge_each_join_once(
    fleet: Fleet, client: Redis, keys: Keys, tmp_path: Path
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    fleet.spawn_pipeline(replicas=2)
    await fleet.wait_started()
    producer = Producer(client, keys, texts=WITH_SEVERAL)
    stop_posting = asyncio.Event()
    posting = asyncio.create_task(producer.post_until("join", stop_posting, rate_per_s=RATE_PER_S))
    started = time.monotonic()
    kills = mid_message = 0
    try:
        while kills < MIN_KILLS or len(producer.acknowledged) < MIN_EVENTS:
            victim, busy = await pick_victim(client, keys, fleet, rng)
            victim.kill()
            kills += 1
            mid_message += busy
            replacement = fleet.replace(victim)
            await replacement.wait_logged("worker_started", timeout=60)
    finally:
        stop_posting.set()
        await posting
    fault_window_s = time.monotonic() - started

    report = await settled(client, keys, producer.acknowledged, timeout=240)
    joins = report.joins.figures()
    figures = {
        **report.figures(),
        "seed": seed,
        "kills": kills,
        "kills_mid_message": mid_message,
        "killed_services": dict(Counter(w.service for w in fleet.workers if not w.alive)),
        "events_with_branches": joins["joins"],
        "stale_commits": fleet.count("stale_commit_skipped"),
        "fault_window_s": round(fault_window_s, 2),
    }
    publish_figures("join_worker_kills", figures, tmp_path)
    report.assert_ok()
    assert len(report.posted) >= MIN_EVENTS
    assert kills >= MIN_KILLS
    assert mid_message > 0
    # A third of the messages make several requests: that many joins, each of 2 to 5 branches.
    assert joins["joins"] >= len(report.posted) * len(SEVERAL) // len(WITH_SEVERAL) - 10
    assert 2 * joins["joins"] <= joins["branches"] <= 5 * joins["joins"]
    assert joins["joins_completed"] + joins["joins_partial"] == joins["joins"]
    assert joins["max_merged_per_join"] == 1
    assert not fleet.crashed(), fleet.crashed()
    assert not fleet.tracebacks(), fleet.tracebacks()


# Responder replicas that hold branch 1 of the marked event on its first delivery and, once
# abandoned, finish it anyway: the zombie branch really tries to settle after its peer did.
HOLD = {"FAULT_MODE": "hold", "FAULT_MARKER": "zombie", "FAULT_HOLD_S": "60",
        "FAULT_HOLD_STUBBORN": "1", "FAULT_BRANCH": "1"}  # fmt: skip


async def test_a_zombie_branch_resumed_after_its_peer_settled_it_changes_nothing(
    fleet: Fleet, client: Redis, keys: Keys, tmp_path: Path
) -> None:
    for service in ("intake", "triage", "composer", "reviewer", "validator"):
        fleet.spawn(service)
    responders = [fleet.spawn("responder", rigged("responder"), env=HOLD) for _ in range(2)]
    await fleet.wait_started()
    producer = Producer(client, keys)
    text = "zombie: " + SEVERAL[3]
    await producer.post("zombie-1", payload("zombie-1", text))
    await producer.post_many(event_ids("bystander", 20))

    zombie, held = await wait_any_logged(responders, "fault_holding", event_id="zombie-1")
    (peer,) = [w for w in responders if w is not zombie]
    zombie.freeze()
    await peer.wait_logged("reclaimed", timeout=30, entry_id=held["entry_id"])
    report = await settled(client, keys, producer.acknowledged, timeout=60)
    report.assert_ok()

    zombie.thaw()
    await zombie.wait_logged("ownership_lost", timeout=30, entry_id=held["entry_id"])
    late = await zombie.wait_logged(
        "stage_outcome", timeout=30, event_id="zombie-1", entry_id=held["entry_id"]
    )
    assert late["commit"] == "stale"

    report = await settled(client, keys, producer.acknowledged, timeout=60)
    report.assert_ok()
    assert report.places()["zombie-1"] == Counter({"responses": 1})
    (join,) = [j for j in report.joins.opened if j.startswith("zombie-1:")]
    state = report.joins.states[join]
    assert state is not None
    assert (state.status, state.expected, state.late, state.duplicates) == ("done", 5, 0, 0)
    held_steps = [s for s in report.steps["zombie-1"] if s.get("entry_id") == held["entry_id"]]
    assert [(s["stage"], s["delivery"]) for s in held_steps] == [("responder", 2)]
    assert not fleet.crashed()
    assert not fleet.tracebacks()
    publish_figures(
        "join_zombie",
        {**report.figures(), "zombie_commit": late["commit"],
         "stale_commits": fleet.count("stale_commit_skipped")},
        tmp_path,
    )  # fmt: skip


async def test_redis_killed_while_joins_are_open_loses_no_join_and_merges_each_once(
    fresh_redis: EmbeddedRedis, fleet: Fleet, client: Redis, keys: Keys, tmp_path: Path
) -> None:
    # Slow responders keep branches in flight (and joins open) when Redis dies.
    for service in ("intake", "triage", "composer", "validator"):
        fleet.spawn(service)
    for _ in range(2):
        fleet.spawn("responder", rigged("responder"), env={"FAULT_SLOW_S": "0.2"})
    await fleet.wait_started()
    producer = Producer(client, keys, texts=SEVERAL)
    await producer.post_many(event_ids("crash", 60))

    async def joins_open() -> bool:
        return int(await client.zcard(keys.joins)) >= 3

    deadline = time.monotonic() + 60
    while not await joins_open():
        assert time.monotonic() < deadline, "no join opened"
        await asyncio.sleep(0.05)
    open_at_kill = int(await client.zcard(keys.joins))
    fresh_redis.kill()
    down_s = await outage(fleet, at_least_s=2.0)
    fresh_redis.start()
    await producer.post_many(event_ids("after", 20))

    report = await settled(client, keys, producer.acknowledged, timeout=180)
    figures = {**report.figures(), "joins_open_at_kill": open_at_kill,
               "down_s": round(down_s, 1)}  # fmt: skip
    publish_figures("join_redis_kill", figures, tmp_path)
    report.assert_ok()
    assert report.joins.figures()["joins"] == len(report.posted)
    assert report.joins.figures()["max_merged_per_join"] == 1
    assert await client.zcard(keys.joins) == 0
    assert not fleet.tracebacks(), fleet.tracebacks()
