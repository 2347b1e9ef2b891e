"""Removing departed consumers never drops pending entries (XGROUP DELCONSUMER would)."""

from __future__ import annotations

from redis.asyncio import Redis

from shared.runtime.commit import load_lua


async def test_a_presumed_departed_consumer_that_owns_entries_is_not_deleted(
    redis: Redis, prefix: str
) -> None:
    stream, group = f"{prefix}:triage", "triage"
    forget = redis.register_script(load_lua("forget_consumer.lua"))
    await redis.xgroup_create(stream, group, id="0", mkstream=True)
    await redis.xadd(stream, {"payload": b"{}"})
    # "stalled" woke up and read an entry after a peer decided it was gone.
    await redis.xreadgroup(group, "stalled", {stream: ">"}, count=1)
    await redis.xreadgroup(group, "idle", {stream: ">"}, count=1)

    assert await forget(keys=[stream], args=[group, "stalled"]) == 0
    assert await forget(keys=[stream], args=[group, "idle"]) == 1
    consumers = {c["name"]: c["pending"] for c in await redis.xinfo_consumers(stream, group)}
    assert consumers == {b"stalled": 1}
