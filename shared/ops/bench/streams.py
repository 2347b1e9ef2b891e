"""Typed wrappers for the stream commands the benchmark uses (redis-py's replies are untyped)."""

from __future__ import annotations

from typing import cast

from redis.asyncio import Redis

Fields = dict[bytes, bytes]
Entry = tuple[bytes, Fields]
StreamEntries = list[tuple[bytes, list[Entry]]]


async def entries(
    redis: Redis, stream: str, start: bytes | str = "-", count: int = 1000
) -> list[Entry]:
    return cast(list[Entry], await redis.xrange(stream, min=start, count=count))


async def last_id(redis: Redis, stream: str) -> bytes | None:
    """The id of the newest entry of ``stream``; None when it is empty or missing."""
    newest = cast(list[Entry], await redis.xrevrange(stream, count=1))
    return newest[0][0] if newest else None


async def read(
    redis: Redis, cursors: dict[str, bytes | str], count: int, block_ms: int
) -> StreamEntries:
    reply = await redis.xread(cursors, count=count, block=block_ms)  # type: ignore[arg-type]
    return cast(StreamEntries, reply or [])


async def read_group(
    redis: Redis, group: str, consumer: str, stream: str, count: int, block_ms: int
) -> list[Entry]:
    reply = await redis.xreadgroup(group, consumer, {stream: ">"}, count=count, block=block_ms)
    replies = cast(StreamEntries, reply or [])
    return replies[0][1] if replies else []
