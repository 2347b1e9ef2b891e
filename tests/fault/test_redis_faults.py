"""F4 / F6: Redis crashes, freezes and restarts under the workers' feet while events flow."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis

from services.pipeline import PIPELINE
from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.keys import Keys
from tests.audit import TERMINALS, progressed, publish_figures, settled
from tests.fault.load import Producer
from tests.fault.processes import Fleet, WorkerProcess
from tests.helpers import wait_for

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]

RATE_PER_S = 200
# Log events with which a worker reports that Redis is away (and that it is waiting it out).
OUTAGE_EVENTS = ("read_failed", "upkeep_failed", "commit_retry", "redis_unavailable",
                 "stage_waiting_for_redis")  # fmt: skip


def outage_reports(worker: WorkerProcess) -> int:
    return sum(1 for r in worker.log_records() if r.get("event") in OUTAGE_EVENTS)


@asynccontextmanager
async def load(producer: Producer, tag: str) -> AsyncIterator[None]:
    """Events posted at a steady rate for as long as the block runs."""
    stop = asyncio.Event()
    posting = asyncio.create_task(producer.post_until(tag, stop, rate_per_s=RATE_PER_S))
    try:
        yield
    finally:
        stop.set()
        await posting


async def outage(fleet: Fleet, at_least_s: float) -> float:
    """Wait until the fault has lasted ``at_least_s`` and every live worker has reported it."""
    began = time.monotonic()
    before = {w.pid: outage_reports(w) for w in fleet.live}

    async def felt() -> bool:
        long_enough = time.monotonic() - began >= at_least_s
        return long_enough and all(outage_reports(w) > before[w.pid] for w in fleet.live)

    await wait_for(felt, timeout=at_least_s + 60, interval=0.1)
    return time.monotonic() - began


async def test_redis_killed_and_restarted_mid_run_loses_no_acknowledged_event(
    fresh_redis: EmbeddedRedis, fleet: Fleet, client: Redis, keys: Keys, tmp_path: Path
) -> None:
    assert await client.config_get("appendfsync") == {"appendfsync": "always"}
    port, data_dir = fresh_redis.port, fresh_redis.data_dir
    fleet.spawn_pipeline(replicas=2)
    await fleet.wait_started()
    pids = [w.pid for w in fleet.workers]
    producer = Producer(client, keys)
    crashes, down_s = 3, []
    async with load(producer, "crash"):
        for _ in range(crashes):
            await progressed(client, keys, by=150)
            seen = {name: await client.xlen(keys.stream(name)) for name in (*TERMINALS, "intake")}
            fresh_redis.kill()
            down_s.append(await outage(fleet, at_least_s=2.0))
            fresh_redis.start()
            assert (fresh_redis.port, fresh_redis.data_dir) == (port, data_dir)
            # Everything Redis had acknowledged before the crash came back from the AOF.
            for name, length in seen.items():
                assert await client.xlen(keys.stream(name)) >= length, f"{name} lost entries"
        await progressed(client, keys, by=150)

    report = await settled(client, keys, producer.acknowledged, timeout=120)
    publish_figures(
        "redis_crash",
        {**report.figures(), "redis_crashes": crashes, "down_s": [round(d, 1) for d in down_s],
         "producer_retries": producer.retries, "commit_retries": fleet.count("commit_retry"),
         "reclaimed_log_lines": fleet.count("reclaimed"),
         "stale_commits": fleet.count("stale_commit_skipped")},
        tmp_path,
    )  # fmt: skip
    report.assert_ok()
    # An outage may cost an in-flight entry one reclaim, never a delivery per retry.
    assert report.max_delivery() <= 1 + crashes
    assert [w.pid for w in fleet.live] == pids, "workers restarted or died"
    assert not fleet.tracebacks(), fleet.tracebacks()


@pytest.mark.parametrize(
    "outage_s",
    [
        pytest.param(6.0, id="6s-past-reclaim-idle"),
        pytest.param(14.0, id="14s-past-socket-timeout"),
    ],
)
async def test_workers_ride_out_a_frozen_redis_without_restarting(
    fresh_redis: EmbeddedRedis,
    fleet: Fleet,
    client: Redis,
    keys: Keys,
    tmp_path: Path,
    outage_s: float,
) -> None:
    fleet.spawn_pipeline(replicas=2)
    await fleet.wait_started()
    pids = [w.pid for w in fleet.workers]
    producer = Producer(client, keys)
    async with load(producer, "frozen"):
        await progressed(client, keys, by=150)
        fresh_redis.pause()
        frozen_at = time.monotonic()
        try:
            await asyncio.sleep(outage_s)  # injecting the fault, not waiting for a condition
        finally:
            fresh_redis.resume()
        await progressed(client, keys, by=150)

    report = await settled(client, keys, producer.acknowledged, timeout=120)
    publish_figures(
        f"redis_frozen_{int(outage_s)}s",
        {**report.figures(), "outage_s": round(time.monotonic() - frozen_at, 1),
         "outage_log_lines": sum(outage_reports(w) for w in fleet.workers),
         "reclaimed_log_lines": fleet.count("reclaimed"),
         "stale_commits": fleet.count("stale_commit_skipped")},
        tmp_path,
    )  # fmt: skip
    report.assert_ok()
    assert report.max_delivery() <= 2
    assert [w.pid for w in fleet.live] == pids, "workers restarted or died"
    assert not fleet.tracebacks(), fleet.tracebacks()


async def test_workers_ride_out_a_stopped_redis_without_restarting(
    fresh_redis: EmbeddedRedis, fleet: Fleet, client: Redis, keys: Keys, tmp_path: Path
) -> None:
    fleet.spawn_pipeline(replicas=2)
    await fleet.wait_started()
    pids = [w.pid for w in fleet.workers]
    producer = Producer(client, keys)
    async with load(producer, "stopped"):
        await progressed(client, keys, by=150)
        fresh_redis.stop()
        try:
            outage_s = await outage(fleet, at_least_s=5.0)
        finally:
            fresh_redis.start()
        await progressed(client, keys, by=150)

    report = await settled(client, keys, producer.acknowledged, timeout=120)
    publish_figures(
        "redis_stopped",
        {**report.figures(), "outage_s": round(outage_s, 1),
         "outage_log_lines": sum(outage_reports(w) for w in fleet.workers),
         "commit_retries": fleet.count("commit_retry")},
        tmp_path,
    )  # fmt: skip
    report.assert_ok()
    assert report.max_delivery() <= 2
    assert [w.pid for w in fleet.live] == pids, "workers restarted or died"
    assert not fleet.tracebacks(), fleet.tracebacks()


async def heartbeat_pids(redis: Redis, keys: Keys) -> set[int]:
    pids = set()
    for service in PIPELINE.services:
        async for key in redis.scan_iter(match=keys.heartbeat_pattern(service)):
            raw = await redis.get(key)
            if raw is not None:
                pids.add(int(orjson.loads(raw)["pid"]))
    return pids


async def test_workers_ride_out_redis_out_of_memory_and_keep_their_upkeep(
    fresh_redis: EmbeddedRedis, fleet: Fleet, client: Redis, keys: Keys, tmp_path: Path
) -> None:
    fleet.spawn_pipeline(replicas=2)
    await fleet.wait_started()
    producer = Producer(client, keys)
    async with load(producer, "oom"):
        await progressed(client, keys, by=150)
        # noeviction: every write that could grow memory is refused (producers' XADDs,
        # heartbeats, group creation) while reads, acks and the fenced commit still work.
        await client.config_set("maxmemory", "1")
        try:
            victim = fleet.of("triage")[0]
            victim.kill()
            restarted = fleet.replace(victim)  # must wait for Redis to take writes, not crash
            outage_s = await outage(fleet, at_least_s=4.0)
        finally:
            await client.config_set("maxmemory", "0")
        await fleet.wait_started([restarted])
        await progressed(client, keys, by=150)

    report = await settled(client, keys, producer.acknowledged, timeout=120)
    live = {w.pid for w in fleet.live}

    async def every_worker_beats() -> bool:
        return await heartbeat_pids(client, keys) == live

    await wait_for(every_worker_beats, timeout=30)
    publish_figures(
        "redis_oom",
        {**report.figures(), "outage_s": round(outage_s, 1), "producer_retries": producer.retries,
         "outage_log_lines": sum(outage_reports(w) for w in fleet.workers)},
        tmp_path,
    )  # fmt: skip
    report.assert_ok()
    # The outage and the kill may each cost an entry one reclaim; retries during it cost none.
    assert report.max_delivery() <= 3
    assert len(fleet.live) == 8
    assert not fleet.crashed(), fleet.crashed()
    assert not fleet.tracebacks(), fleet.tracebacks()
