"""The live view: streams, groups and consumers, events per second by outcome, cost."""

from __future__ import annotations

from redis.asyncio import Redis

from shared.ops.console import live
from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.keys import Keys
from tests.console.harness import client, console
from tests.helpers import InProcessPipeline, post, wait_for


async def test_the_live_view_shows_groups_consumers_and_rates(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys, url = Keys(prefix), redis_server.url
    async with InProcessPipeline(url, prefix):
        for n in range(3):
            await post(redis, keys, {"text": f"My invoice {n} is wrong", "event_id": f"l-{n}"})

        async def answered() -> bool:
            return bool(await redis.xlen(keys.responses) == 3)

        await wait_for(answered)
        async with console(url, prefix) as app, client(app, "vera") as http:
            data = (await http.get("/live.json")).json()
            page = await http.get("/live")
    assert data["events_per_s"]["responded"] == 0.05  # 3 in the last minute
    groups = {g["name"]: g for s in data["streams"] for g in s["groups"]}
    assert set(groups) >= {"intake", "triage", "responder", "validator"}
    assert all(groups[g]["consumers_alive"] == 1 for g in ("intake", "triage"))
    assert groups["validator"]["lag"] == 0
    assert page.status_code == 200
    assert '<script src="/static/live.js"></script>' in page.text


async def test_a_busy_minute_is_rated_from_its_newest_entries(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    async with redis.pipeline(transaction=False) as pipe:
        for n in range(1500):
            pipe.xadd(keys.responses, {"event_id": f"r-{n}"})
        await pipe.execute()
    data = await live.collect(redis, keys)
    assert data["events_per_s"]["responded"] > 1500 / 60  # not capped by the bounded read
    assert data["cost_sampled_events"] == live.COST_SAMPLE
