"""Calls of one Lua script, made concurrently, sent to Redis as one script invocation.

A worker runs a read batch's entries as concurrent tasks, and each asks the budget ledger for a
reservation at about the same moment. One script call each costs, besides its round trip, the
packing of every argument in Python and the setting up of a script run in Redis: most of an
offline agent's Redis time. :class:`ScriptBatch` queues the calls made during one event-loop turn
and sends them as one ``EVALSHA`` of ``batch.lua``, with the calls packed as one MessagePack
argument. Each call is atomic, as the whole batch is; one failing does not fail the others.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.runtime.channel import Channel, ChannelScript, PooledChannel
from shared.runtime.commit import KeyTable, load_lua, pack_argument

Call = tuple[list[str], list[Any], "asyncio.Future[Any]"]


class ScriptBatch:
    """Runs ``source``'s ``handle(keys, argv)`` for every :meth:`call`, batching the calls
    made in the same loop turn.

    ``source`` must define ``local function handle(keys, argv)``; its arguments arrive as
    MessagePack gives them (Python ints as Lua numbers, str as Lua strings). The batches go on
    ``target``: a channel (which :meth:`aclose` closes), or a redis-py client's pool.
    """

    def __init__(self, target: Redis | Channel, source: str, max_batch: int = 512) -> None:
        channel = PooledChannel(target) if isinstance(target, Redis) else target
        self._script = ChannelScript(channel, f"{source}\n{load_lua('batch.lua')}")
        self._max_batch = max_batch
        self._pending: list[Call] = []
        self._flushes: set[asyncio.Task[None]] = set()

    async def call(self, keys: list[str], args: list[Any]) -> Any:
        """The script's reply for ``keys``/``args``; its error, or the connection's, is raised."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((keys, args, future))
        if len(self._pending) == 1:
            loop.call_soon(self._start_flush)
        elif len(self._pending) >= self._max_batch:
            self._start_flush()
        return await future

    def _start_flush(self) -> None:
        calls, self._pending = self._pending, []
        if not calls:
            return
        task = asyncio.get_running_loop().create_task(self._flush(calls))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self, calls: list[Call]) -> None:
        try:
            replies = await self._send(calls)
        except (RedisError, OSError) as exc:
            _fail(calls, exc)
            return
        except BaseException as exc:  # cancelled: the waiters must not hang
            _fail(calls, RedisError(f"script batch interrupted: {exc!r}"))
            raise
        for (_, _, future), reply in zip(calls, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _send(self, calls: list[Call]) -> list[Any]:
        table = KeyTable()
        packed = [[[table.position(key) for key in keys], args] for keys, args, _ in calls]
        # The script object reloads the script if the server lost its cache (restart, FLUSH).
        replies: list[Any] = await self._script(table.names, [pack_argument(packed)])
        return replies

    async def aclose(self) -> None:
        """Close the batch's channel (calls still waiting on it fail)."""
        await self._script.channel.aclose()


def _fail(calls: list[Call], error: BaseException) -> None:
    for _, _, future in calls:
        if not future.done():
            future.set_exception(error)
