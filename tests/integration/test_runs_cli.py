"""`baton runs list|show`: run records filtered and shown as a timeline."""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.keys import Keys
from tests.helpers import InProcessPipeline, post, terminal_count, wait_for
from tests.integration.test_escalations_cli import baton


async def test_runs_are_listed_by_status_and_shown_with_every_stage(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys, url = Keys(prefix), redis_server.url
    async with InProcessPipeline(url, prefix):
        await post(redis, keys, {"text": "My invoice is wrong, charged twice", "event_id": "run-1"})
        await post(redis, keys, {"text": "My lawyer will sue you", "event_id": "run-2"})

        async def done() -> bool:
            return await terminal_count(redis, keys) == 2

        await wait_for(done)
    code, out = await baton(url, prefix, "runs", "list", "--status", "escalated", "--json")
    assert code == 0
    assert [(r["event_id"], r["reason"]) for r in orjson.loads(out)] == [
        ("run-2", "sensitive_topic")
    ]
    code, out = await baton(url, prefix, "runs", "list", "--since", "600", "--json")
    assert sorted(r["event_id"] for r in orjson.loads(out)) == ["run-1", "run-2"]
    code, out = await baton(url, prefix, "runs", "show", "run-1")
    assert code == 0
    print(out.decode())
    for stage in (b"intake", b"triage", b"responder", b"validator", b"responded"):
        assert stage in out
    code, _ = await baton(url, prefix, "runs", "show", "no-such-event")
    assert code == 1
