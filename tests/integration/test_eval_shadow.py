"""Shadow replay: recorded intake traffic re-fed through a differently configured pipeline under
a prefix of its own; the report says which decisions changed, and the live keys stay as they
were."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from services.pipeline import PIPELINE
from shared.ops.embedded import EmbeddedRedis
from shared.ops.eval.session import RunOptions
from shared.ops.eval.shadow import Window, shadow_replay
from shared.pipeline.keys import Keys
from shared.runtime.runrecord import load_run
from tests.helpers import InProcessPipeline, post, terminal_count, wait_for

BILLING = {"text": "My invoice INV-77 is wrong, please correct it", "event_id": "live-billing",
           "channel": "email"}  # fmt: skip
VAGUE = {"text": "help please"}  # no event id: the live pipeline derived one from the entry id
LEGAL = {"text": "My lawyer is preparing a lawsuit", "event_id": "live-legal"}


async def live_state(redis: Redis, keys: Keys, event_ids: list[str]) -> dict[str, Any]:
    """Everything of the live pipeline the replay could touch."""
    streams = {s: await redis.xlen(s) for s in [keys.stream(n) for n in PIPELINE.streams()]}
    groups = {
        s: await redis.xinfo_groups(s)
        for s in [keys.stream(n) for n in PIPELINE.streams()]
        if await redis.exists(s)
    }
    runs = {e: await load_run(redis, keys, e) for e in event_ids}
    names = sorted([k async for k in redis.scan_iter(match=f"{keys.prefix}:*")])
    return {"streams": streams, "groups": groups, "runs": runs, "keys": names}


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["event_id"]: e for e in report["events"]}


async def test_a_stricter_threshold_changes_decisions_and_leaves_the_live_pipeline_alone(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    live = Keys(prefix)
    async with InProcessPipeline(redis_server.url, prefix, llm="offline"):
        first = await post(redis, live, BILLING)
        vague_entry = await post(redis, live, VAGUE)
        await post(redis, live, LEGAL)

        async def all_ended() -> bool:
            return await terminal_count(redis, live) == 3

        await wait_for(all_ended)
    vague_id = f"evt-{vague_entry}"
    await redis.unlink(live.run("live-legal"), live.run_steps("live-legal"))  # as if expired
    before = await live_state(redis, live, ["live-billing", vague_id, "live-legal"])

    options = RunOptions(provider="offline", overrides={"confidence_threshold": 0.99})
    report = await shadow_replay(redis_server.url, prefix, Window(since=first), options)

    assert report["ok"] is True
    assert report["summary"] == {"events": 3, "same": 1, "differs": 1, "no_record": 1,
                                 "live_unfinished": 0, "lost": 0}  # fmt: skip
    events = by_id(report)
    billing = events["live-billing"]
    assert billing["verdict"] == "differs"
    assert billing["changed"] == ["status", "reason", "route", "mode"]
    assert billing["live"]["status"] == "responded"
    assert billing["shadow"]["status"] == "escalated"
    assert billing["shadow"]["reason"] == "low_confidence"
    assert billing["live"]["category"] == billing["shadow"]["category"] == "billing"
    assert events[vague_id]["verdict"] == "same"  # asking for details needs no confidence
    assert events[vague_id]["live"]["mode"] == "clarify"
    assert events["live-legal"]["verdict"] == "no_record"
    assert report["changes"]["status"] == 1
    assert report["process"]["live"]["hops"]["mean"] == 6
    assert report["process"]["shadow"]["hops"]["mean"] == 5  # (billing escalated, vague answered)
    assert await live_state(redis, live, ["live-billing", vague_id, "live-legal"]) == before
    assert [k async for k in redis.scan_iter(match=f"{report['run']['prefix']}:*")] == []


async def test_the_window_bounds_what_is_replayed(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    live = Keys(prefix)
    async with InProcessPipeline(redis_server.url, prefix, llm="offline"):
        await post(redis, live, BILLING)
        second = await post(redis, live, LEGAL)

        async def both_ended() -> bool:
            return await terminal_count(redis, live) == 2

        await wait_for(both_ended)

    options = RunOptions(provider="offline")
    report = await shadow_replay(redis_server.url, prefix, Window(since=second), options)

    assert [e["event_id"] for e in report["events"]] == ["live-legal"]
    assert report["summary"]["same"] == 1
    assert report["source"]["first_entry"] == second
