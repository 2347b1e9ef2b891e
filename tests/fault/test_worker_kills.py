"""F1: workers SIGKILLed mid-message, over and over, while events flow."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from services.pipeline import PIPELINE
from shared.pipeline.keys import Keys
from shared.runtime.delivery import as_text
from tests.audit import publish_figures, settled
from tests.fault.load import Producer
from tests.fault.processes import Fleet, WorkerProcess, consumer_pid

pytestmark = [pytest.mark.fault, pytest.mark.timeout(240)]

MIN_EVENTS = 2000
MIN_KILLS = 20
RATE_PER_S = 150


async def busy_pids(redis: Redis, keys: Keys) -> set[int]:
    """Pids of the consumers that hold pending (in-flight) entries right now."""
    pids: set[int] = set()
    for service in PIPELINE.services:
        stream = keys.stream(PIPELINE.input_stream(service))
        if not await redis.exists(stream):
            continue
        for consumer in await redis.xinfo_consumers(stream, service):
            if int(consumer["pending"]) > 0:
                pid = consumer_pid(as_text(consumer["name"]))
                if pid is not None:
                    pids.add(pid)
    return pids


async def pick_victim(
    redis: Redis, keys: Keys, fleet: Fleet, rng: random.Random
) -> tuple[WorkerProcess, bool]:
    """A random live worker, preferring one that has events in flight (a kill mid-message)."""
    busy = await busy_pids(redis, keys)
    candidates = [w for w in fleet.live if w.pid in busy]
    if candidates:
        return rng.choice(candidates), True
    return rng.choice(fleet.live), False


async def test_sigkilled_workers_lose_no_event_and_duplicate_none(
    fleet: Fleet, client: Redis, keys: Keys, tmp_path: Path
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    fleet.spawn_pipeline(replicas=2)
    await fleet.wait_started()
    producer = Producer(client, keys)
    stop_posting = asyncio.Event()
    posting = asyncio.create_task(producer.post_until("kill", stop_posting, rate_per_s=RATE_PER_S))
    started = time.monotonic()
    kills = mid_message = 0
    try:
        # Keep events flowing until both quotas are met, so every kill lands on a live pipeline.
        while kills < MIN_KILLS or len(producer.acknowledged) < MIN_EVENTS:
            victim, busy = await pick_victim(client, keys, fleet, rng)
            victim.kill()
            kills += 1
            mid_message += busy
            replacement = fleet.replace(victim)
            # Pace the kills by the restart: the next one comes once the replacement serves.
            await replacement.wait_logged("worker_started", timeout=60)
    finally:
        stop_posting.set()
        await posting
    fault_window_s = time.monotonic() - started
    last_kill = time.monotonic()

    report = await settled(client, keys, producer.acknowledged, timeout=120)
    recovery_s = time.monotonic() - last_kill

    figures = {
        **report.figures(),
        "seed": seed,
        "kills": kills,
        "kills_mid_message": mid_message,
        "reclaimed_log_lines": fleet.count("reclaimed"),
        "stale_commits": fleet.count("stale_commit_skipped"),
        "ownership_lost": fleet.count("ownership_lost"),
        "processes_started": len(fleet.workers),
        "fault_window_s": round(fault_window_s, 2),
        "recovery_after_last_kill_s": round(recovery_s, 2),
    }
    publish_figures("worker_kills", figures, tmp_path)
    report.assert_ok()
    assert len(report.posted) >= MIN_EVENTS
    assert kills >= MIN_KILLS
    # The kills must have hit in-flight work, or this test proved nothing about reclaiming.
    assert mid_message > 0
    assert figures["reclaimed_log_lines"] > 0
    assert report.redelivered_steps() > 0
    assert not fleet.crashed(), fleet.crashed()
    assert not fleet.tracebacks(), fleet.tracebacks()
