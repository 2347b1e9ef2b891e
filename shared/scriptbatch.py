"""Calls of one Lua script, made concurrently, sent to Redis together.

A worker runs a read batch's entries as concurrent tasks, and each asks the budget ledger for a
reservation at about the same moment. One round trip per call costs a pooled connection, a
write and a read each: most of an offline agent's Redis time. :class:`ScriptBatch` queues the
calls made during one event-loop turn and sends them as one pipeline (not a transaction: each
call is atomic on its own, and one failing does not fail the others).
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

Call = tuple[list[str], list[Any], "asyncio.Future[Any]"]


class ScriptBatch:
    """Runs ``source`` for every :meth:`call`, batching calls made in the same loop turn."""

    def __init__(self, redis: Redis, source: str, max_batch: int = 512) -> None:
        self._redis = redis
        self._script = redis.register_script(source)
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
            if any(isinstance(reply, NoScriptError) for reply in replies):
                # The server lost its script cache (a restart, SCRIPT FLUSH): load it, resend.
                await self._redis.script_load(self._script.script)
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
        sha = self._script.sha
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args, _ in calls:
                pipe.evalsha(sha, len(keys), *keys, *args)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies


def _fail(calls: list[Call], error: BaseException) -> None:
    for _, _, future in calls:
        if not future.done():
            future.set_exception(error)
