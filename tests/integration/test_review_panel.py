"""The review panel in the reference pipeline, on a real Redis: a sensitive or borderline triage
decision is read by three independent reviewers in parallel (the join ``panel``); agreement goes on
with the majority, disagreement goes to a human with every opinion and the agreement score."""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.keys import Keys
from tests.audit import audit
from tests.helpers import InProcessPipeline, post, wait_for

REQUESTS = {
    # Sensitive: every panelist reads a legal threat; the specialists get it, with the opinions.
    "legal": "My lawyer will sue you over this contract, expect a court letter.",
    # Borderline (two topics tie): the panelists read it differently and disagree.
    "torn": "Something is off with my account and with the last charge, not sure which.",
    # Clear: no panel, today's path.
    "clear": "My invoice is wrong, I was charged twice",
}


async def test_the_panel_confirms_a_sensitive_decision_and_escalates_a_torn_one_with_opinions(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    async with InProcessPipeline(redis_server.url, prefix):
        for event_id, text in REQUESTS.items():
            await post(redis, keys, {"text": text, "channel": "email", "event_id": event_id})

        async def ended() -> bool:
            return await redis.xlen(keys.responses) + await redis.xlen(keys.escalations) == 3

        await wait_for(ended)
    report = await audit(redis, keys, REQUESTS)
    report.assert_ok()
    packets = {e["event_id"]: orjson.loads(e["packet"]) for e in report.entries["escalations"]}
    legal = packets[b"legal"]
    assert legal["reason"] == "sensitive_topic"
    assert legal["panel"]["agreement"] == 1.0
    assert {o["category"] for o in legal["panel"]["opinions"]} == {"legal"}
    torn = packets[b"torn"]
    assert torn["reason"] == "low_confidence"
    assert len(torn["panel"]["opinions"]) == 3
    assert torn["panel"]["agreement"] < 0.75
    assert {o["category"] for o in torn["panel"]["opinions"]} == {"account", "billing"}
    (response,) = report.entries["responses"]
    assert response["event_id"] == b"clear"
    assert report.joins.figures()["joins"] == 2
    assert report.joins.figures()["branches"] == 6
    assert not any(s.get("branch") for s in report.steps["clear"])
