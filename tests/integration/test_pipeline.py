"""The four services together, in one process, against a real Redis."""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.keys import Keys
from shared.runtime.runrecord import load_run
from tests.helpers import InProcessPipeline, post, stream_entries, terminal_count, wait_for


async def test_billing_question_gets_a_response(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    async with InProcessPipeline(redis_server.url, prefix):
        await post(
            redis,
            keys,
            {
                "text": "My invoice is wrong, I was charged twice",
                "customer_id": "c-42",
                "channel": "email",
                "event_id": "e-1",
            },
        )

        async def answered() -> bool:
            return await redis.xlen(keys.responses) == 1

        await wait_for(answered)
    (entry,) = await stream_entries(redis, keys.responses)
    response = orjson.loads(entry["response"])
    assert entry["event_id"] == b"e-1"
    assert response["category"] == "billing"
    run = await load_run(redis, keys, "e-1")
    assert run is not None
    assert run["status"] == "responded"
    assert [s["stage"] for s in run["steps"]] == [
        "intake", "validator", "triage", "validator", "responder", "validator"
    ]  # fmt: skip


async def test_malformed_json_is_dead_lettered_as_parse_error(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    async with InProcessPipeline(redis_server.url, prefix):
        await post(redis, keys, b'{"text": "truncated')

        async def dead() -> bool:
            return await terminal_count(redis, keys) == 1

        await wait_for(dead)
    (entry,) = await stream_entries(redis, keys.dlq)
    assert entry["reason"] == b"parse_error"
    assert entry["payload"] == b'{"text": "truncated'
