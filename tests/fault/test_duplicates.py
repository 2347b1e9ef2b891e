"""B7: the same event posted many times, one after another and concurrently, gets one answer."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from redis.asyncio import Redis

from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.keys import Keys
from shared.runtime.redis_client import connect
from tests.audit import publish_figures, settled
from tests.fault.load import Producer, payload
from tests.fault.processes import Fleet

pytestmark = [pytest.mark.fault, pytest.mark.timeout(120)]

EVENTS = ("dup-a", "dup-b", "dup-c", "dup-d")
SEQUENTIAL = 3
TASKS = 8
PER_TASK = 5


async def post_from_own_connection(url: str, keys: Keys, event_id: str, times: int) -> None:
    """One concurrent producer: its own connection, the same event id ``times`` times."""
    redis = connect(url, max_connections=1)
    try:
        producer = Producer(redis, keys)
        for _ in range(times):
            await producer.post(event_id, payload(event_id, "My invoice is wrong"))
    finally:
        await redis.aclose()


async def test_an_event_posted_many_times_even_concurrently_gets_one_response(
    fresh_redis: EmbeddedRedis, fleet: Fleet, client: Redis, keys: Keys, tmp_path: Path
) -> None:
    # Two intake replicas, so copies of one event are handled by different workers at once.
    fleet.spawn_pipeline(replicas=2)
    await fleet.wait_started()
    producer = Producer(client, keys)
    for event_id in EVENTS:
        for _ in range(SEQUENTIAL):
            await producer.post(event_id, payload(event_id, "My invoice is wrong"))
    await asyncio.gather(
        *(
            post_from_own_connection(fresh_redis.url, keys, event_id, PER_TASK)
            for event_id in EVENTS
            for _ in range(TASKS)
        )
    )
    copies = SEQUENTIAL + TASKS * PER_TASK

    report = await settled(client, keys, EVENTS, timeout=60)
    report.assert_ok()
    assert await client.xlen(keys.stream("intake")) == len(EVENTS) * copies
    assert report.places() == {e: Counter({"responses": 1}) for e in EVENTS}
    intake_handled = Counter(r["event_id"] for r in fleet.records("stage_outcome")
                             if r["stage"] == "intake")  # fmt: skip
    assert intake_handled == Counter({e: copies for e in EVENTS}), "every copy was processed"
    for event_id in EVENTS:
        assert int(report.runs[event_id]["duplicates"]) == copies - 1
        assert [s["stage"] for s in report.steps[event_id]].count("intake") == 1
    assert not fleet.crashed()
    assert not fleet.tracebacks()
    publish_figures(
        "duplicate_posts",
        {**report.figures(), "copies_per_event": copies,
         "duplicate_commits": sum(1 for r in fleet.records("stage_outcome")
                                  if r.get("commit") == "duplicate")},
        tmp_path,
    )  # fmt: skip
