"""Command channels: replies in order, redis-py's errors, reconnection, timeouts, credentials."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis import exceptions
from redis.asyncio import Redis

from shared.ops.embedded import EmbeddedRedis
from shared.runtime.channel import (
    Channel,
    ChannelScript,
    PipelinedChannel,
    PooledChannel,
    channel_for,
    reply_error,
)
from shared.runtime.redis_client import connect


@pytest.fixture(params=["pipelined", "pooled"])
async def channel(request: pytest.FixtureRequest, redis: Redis) -> AsyncIterator[Channel]:
    made = channel_for(redis) if request.param == "pipelined" else PooledChannel(redis)
    yield made
    await made.aclose()


async def test_concurrent_commands_each_get_their_own_reply(channel: Channel, prefix: str) -> None:
    replies = await asyncio.gather(*(channel.execute("INCR", f"{prefix}:n") for _ in range(200)))
    assert sorted(replies) == list(range(1, 201))
    if isinstance(channel, PipelinedChannel):  # one socket: commands run in the order sent
        assert replies == list(range(1, 201))


async def test_replies_come_as_the_protocol_gives_them(channel: Channel, prefix: str) -> None:
    stream = f"{prefix}:s"
    entry_id = await channel.execute("XADD", stream, "*", "event_id", "e-1", "n", 7)
    assert await channel.execute("SET", f"{prefix}:k", "v") == b"OK"
    assert await channel.execute("GET", f"{prefix}:missing") is None
    assert await channel.execute("XRANGE", stream, "-", "+") == [
        [entry_id, [b"event_id", b"e-1", b"n", b"7"]]
    ]


async def test_an_error_reply_is_redis_pys_exception_and_the_channel_goes_on(
    channel: Channel, prefix: str
) -> None:
    await channel.execute("SET", f"{prefix}:text", "x")
    with pytest.raises(exceptions.ResponseError, match="WRONGTYPE"):
        await channel.execute("XADD", f"{prefix}:text", "*", "a", "b")
    with pytest.raises(exceptions.NoScriptError):
        await channel.execute("EVALSHA", "0" * 40, 0)
    assert await channel.execute("PING") == b"PONG"


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("OOM command not allowed when used memory > 'maxmemory'.", exceptions.OutOfMemoryError),
        ("LOADING Redis is loading the dataset in memory", exceptions.BusyLoadingError),
        ("READONLY You can't write against a read only replica.", exceptions.ReadOnlyError),
        ("NOPERM no permissions to run the 'xadd' command", exceptions.NoPermissionError),
        ("WRONGPASS invalid username-password pair", exceptions.AuthenticationError),
        ("ERR max number of clients reached", exceptions.ConnectionError),
        ("ERR unknown command 'FOO'", exceptions.ResponseError),
    ],
)  # fmt: skip
def test_error_replies_are_classified_as_redis_py_does(
    message: str, kind: type[exceptions.RedisError]
) -> None:
    error = reply_error(message)
    assert type(error) is kind
    assert str(error) == message


async def test_a_script_is_loaded_again_when_the_server_forgot_it(
    channel: Channel, redis: Redis, prefix: str
) -> None:
    script = ChannelScript(channel, "return redis.call('INCR', KEYS[1])")
    assert await script([f"{prefix}:c"], []) == 1
    await redis.script_flush()
    assert await script([f"{prefix}:c"], []) == 2


async def test_a_cancelled_command_leaves_later_replies_with_their_own_commands(
    redis: Redis, prefix: str
) -> None:
    channel = channel_for(redis)
    try:
        blocked = asyncio.create_task(channel.execute("BLPOP", f"{prefix}:list", 0.2))
        await asyncio.sleep(0.05)
        blocked.cancel()
        # The BLPOP's nil reply arrives first and is skipped, not given to the PING.
        assert await channel.execute("PING") == b"PONG"
        assert await channel.execute("ECHO", "mine") == b"mine"
    finally:
        await channel.aclose()


async def test_a_command_without_a_reply_in_time_fails_and_the_next_reconnects(
    redis: Redis, prefix: str
) -> None:
    channel = channel_for(redis)
    try:
        with pytest.raises(exceptions.TimeoutError):
            await channel.execute("BLPOP", f"{prefix}:list", 5, timeout_s=0.2)
        assert await channel.execute("PING") == b"PONG"
    finally:
        await channel.aclose()


async def test_a_lost_server_fails_waiting_commands_and_is_reconnected_to(
    fresh_redis: EmbeddedRedis,
) -> None:
    client = connect(fresh_redis.url)
    channel = channel_for(client)
    try:
        assert await channel.execute("INCR", "n") == 1
        waiting = asyncio.create_task(channel.execute("BLPOP", "list", 0))
        await asyncio.sleep(0.05)
        fresh_redis.kill()
        with pytest.raises(exceptions.ConnectionError):
            await waiting
        with pytest.raises(exceptions.ConnectionError):
            await channel.execute("PING")  # refused while the server is down
        fresh_redis.start()
        assert await channel.execute("INCR", "n") == 2  # AOF always: the first INCR survived
    finally:
        await channel.aclose()
        await client.aclose()


async def test_the_clients_user_database_and_name_apply_to_its_channel(
    redis: Redis, redis_server: EmbeddedRedis, prefix: str
) -> None:
    user = f"{prefix}-user"
    await redis.acl_setuser(user, enabled=True, passwords=["+s3cret"], keys=["*"],
                           commands=["+@all"])  # fmt: skip
    client = connect(f"{redis_server.url[:-2]}/3", client_name=f"{prefix}-name",
                     username=user, password="s3cret")  # fmt: skip
    channel = channel_for(client)
    wrong_client = connect(redis_server.url, username=user, password="wrong")
    wrong = channel_for(wrong_client)
    try:
        assert await channel.execute("ACL", "WHOAMI") == user.encode()
        assert await channel.execute("CLIENT", "GETNAME") == f"{prefix}-name".encode()
        assert b" db=3 " in await channel.execute("CLIENT", "INFO")
        with pytest.raises(exceptions.AuthenticationError):
            await wrong.execute("PING")
    finally:
        await channel.aclose()
        await wrong.aclose()
        await wrong_client.aclose()
        await client.aclose()
        await redis.acl_deluser(user)


def test_a_tls_client_gets_a_channel_on_its_own_pool() -> None:
    assert isinstance(channel_for(Redis.from_url("rediss://localhost:1/0")), PooledChannel)
    assert isinstance(channel_for(Redis.from_url("redis://localhost:1/0")), PipelinedChannel)
