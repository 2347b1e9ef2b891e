"""ScriptBatch: concurrent calls of one script share one script run, each with its own reply."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from shared.ops.embedded import EmbeddedRedis
from shared.runtime.redis_client import connect
from shared.runtime.scriptbatch import ScriptBatch

INCR_BY = """
local function handle(keys, argv)
  if tonumber(argv[1]) < 0 then return redis.error_reply('negative: ' .. argv[1]) end
  return redis.call('INCRBY', keys[1], argv[1])
end
"""


async def evalsha_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_concurrent_calls_get_their_own_replies_from_one_script_run(
    redis: Redis, prefix: str
) -> None:
    batch = ScriptBatch(redis, INCR_BY)
    await batch.call([f"{prefix}:warm"], [1])  # loads the script
    before = await evalsha_calls(redis)
    replies = await asyncio.gather(*(batch.call([f"{prefix}:n{i % 5}"], [i]) for i in range(50)))
    assert replies[-5:] == [sum(range(k, 50, 5)) for k in range(5)]
    # the last call of each key sees every increment made to it before, in call order
    assert replies[:5] == [0, 1, 2, 3, 4]
    assert await evalsha_calls(redis) - before == 1


@pytest.mark.parametrize(
    ("bad_key", "bad_arg", "error"),
    [
        ("b", -1, "negative: -1"),  # the script's own error reply
        ("text", 1, "not an integer"),  # a command failing inside the script (WRONGTYPE-like)
    ],
)
async def test_an_error_fails_only_its_own_call(
    redis: Redis, prefix: str, bad_key: str, bad_arg: int, error: str
) -> None:
    await redis.set(f"{prefix}:text", "not a number")
    batch = ScriptBatch(redis, INCR_BY)
    results = await asyncio.gather(
        batch.call([f"{prefix}:a"], [2]),
        batch.call([f"{prefix}:{bad_key}"], [bad_arg]),
        batch.call([f"{prefix}:a"], [3]),
        return_exceptions=True,
    )
    good, bad, other = results
    assert (good, other) == (2, 5)
    assert isinstance(bad, ResponseError)
    assert error in str(bad)
    assert await redis.get(f"{prefix}:text") == b"not a number"


async def test_a_call_with_no_reply_answers_none(redis: Redis, prefix: str) -> None:
    batch = ScriptBatch(redis, "local function handle(keys, argv) return nil end")
    assert list(await asyncio.gather(batch.call([], ["a"]), batch.call([], ["b"]))) == [None, None]


async def test_calls_survive_the_server_forgetting_its_scripts(redis: Redis, prefix: str) -> None:
    batch = ScriptBatch(redis, INCR_BY)
    assert await batch.call([f"{prefix}:c"], [1]) == 1
    await redis.script_flush()
    assert await asyncio.gather(*(batch.call([f"{prefix}:c"], [1]) for _ in range(3))) == [2, 3, 4]


async def test_an_unreachable_server_fails_every_waiting_call(fresh_redis: EmbeddedRedis) -> None:
    client = connect(fresh_redis.url)
    try:
        batch = ScriptBatch(client, INCR_BY)
        assert await batch.call(["k"], [1]) == 1
        fresh_redis.stop()
        results = await asyncio.gather(
            *(batch.call(["k"], [1]) for _ in range(4)), return_exceptions=True
        )
        assert all(isinstance(r, RedisConnectionError | OSError) for r in results), results
    finally:
        await client.aclose()


@pytest.mark.parametrize("calls", [1, 700])
async def test_batches_are_bounded_and_every_call_answered(
    redis: Redis, prefix: str, calls: int
) -> None:
    batch = ScriptBatch(redis, INCR_BY, max_batch=256)
    replies = await asyncio.gather(*(batch.call([f"{prefix}:big"], [1]) for _ in range(calls)))
    assert sorted(replies) == list(range(1, calls + 1))
