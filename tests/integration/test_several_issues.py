"""Orchestrator-worker in the reference pipeline, on a real Redis: a message that makes several
requests is answered issue by issue in parallel (the responder, one branch each) and the composer
merges the drafts into one reply; the event still ends once, in one place."""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.keys import Keys
from tests.audit import audit
from tests.helpers import InProcessPipeline, post, wait_for
from tests.integration.test_escalations_cli import baton

SEVERAL = (
    "I was charged twice for A-1234, the app crashes on Android, and please change my "
    "delivery address"
)


async def test_a_message_with_three_issues_gets_one_reply_composed_from_three_drafts(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    posted = {"several": SEVERAL, "single": "My invoice is wrong, I was charged twice"}
    async with InProcessPipeline(redis_server.url, prefix):
        for event_id, text in posted.items():
            await post(redis, keys, {"text": text, "channel": "email", "event_id": event_id})

        async def answered() -> bool:
            return await redis.xlen(keys.responses) == len(posted)

        await wait_for(answered)
    report = await audit(redis, keys, posted)
    report.assert_ok()
    assert report.joins.figures()["joins_completed"] == 1
    assert report.joins.figures()["branches"] == 3
    replies = {e["event_id"]: orjson.loads(e["response"]) for e in report.entries["responses"]}
    reply = replies[b"several"]["reply"]
    # One greeting and one sign-off around the three answers, in the order they were asked.
    assert reply.count("Hello,") == 1
    assert reply.count("Best regards") == 1
    billing, technical, shipping = (
        reply.index("charges"), reply.index("engineers"), reply.index("carrier"),
    )  # fmt: skip
    assert billing < technical < shipping
    stages = [(s["stage"], bool(s.get("branch"))) for s in report.steps["several"]]
    assert stages.count(("responder", True)) == 3
    assert stages[-2:] == [("composer", False), ("validator", False)]
    # A single request keeps today's path: no join, no composer.
    assert [s["stage"] for s in report.steps["single"]] == [
        "intake", "validator", "triage", "validator", "responder", "validator",
    ]  # fmt: skip
    # `baton runs show`: the branches side by side and how the join closed.
    code, out = await baton(redis_server.url, prefix, "runs", "show", "several")
    assert code == 0
    text = out.decode()
    for label in ("issues#0", "issues#1", "issues#2", "joins", "done", "#0: ok", "#2: ok"):
        assert label in text, label
    code, out = await baton(redis_server.url, prefix, "runs", "show", "several", "--json")
    (join,) = orjson.loads(out)["joins"]
    assert (join["status"], join["expected"], join["late"]) == ("done", 3, 0)
    code, out = await baton(redis_server.url, prefix, "status")
    assert code == 0
    assert "Open joins: 0" in out.decode()
