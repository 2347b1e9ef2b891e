"""Command channels: the connections the runtime's per-entry commands travel on.

Three commands run for (nearly) every entry a worker handles: the blocking ``XREADGROUP``, the
budget reservation and the fenced commit. Through redis-py's asyncio client each costs ~60 us of
CPU (pool checkout, retry wrapper, stream reader, command hooks), which at a few hundred events a
second is most of a worker's time. A :class:`PipelinedChannel` sends them on one socket of its own,
writes each request as it comes and matches replies to requests in order (hiredis parses them):
~13 us each. Everything else stays on redis-py.

:func:`channel_for` derives a channel from a redis-py client, with the client's address,
credentials, database, name and timeouts. A TLS client gets a :class:`PooledChannel` instead,
which runs each command on a connection of the client's own pool.

Failures are redis-py's exception classes, so callers treat both kinds alike: a lost or refused
connection is :class:`redis.exceptions.ConnectionError` (the next command reconnects), no reply
within the client's socket timeout is :class:`redis.exceptions.TimeoutError`, and an error reply is
the :class:`redis.exceptions.ResponseError` subclass redis-py would raise.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from typing import Any, Protocol, cast

import hiredis
from redis import exceptions
from redis.asyncio import Redis
from redis.asyncio.connection import Connection, UnixDomainSocketConnection

# Error replies by their first word, as redis-py classifies them.
_ERRORS: dict[str, type[exceptions.ResponseError]] = {
    "NOSCRIPT": exceptions.NoScriptError,
    "OOM": exceptions.OutOfMemoryError,
    "READONLY": exceptions.ReadOnlyError,
    "NOPERM": exceptions.NoPermissionError,
    "TRYAGAIN": exceptions.TryAgainError,
    "EXECABORT": exceptions.ExecAbortError,
}
_UNAVAILABLE: dict[str, type[exceptions.RedisError]] = {
    "LOADING": exceptions.BusyLoadingError,
    "MASTERDOWN": exceptions.MasterDownError,
    "NOAUTH": exceptions.AuthenticationError,
    "WRONGPASS": exceptions.AuthenticationError,
}


def reply_error(message: str) -> exceptions.RedisError:
    """The exception redis-py raises for the error reply ``message``."""
    code = message.split(" ", 1)[0]
    if code in _ERRORS:
        return _ERRORS[code](message)
    if code in _UNAVAILABLE:
        return _UNAVAILABLE[code](message)
    if message.startswith("ERR max number of clients reached"):
        return exceptions.ConnectionError(message)
    return exceptions.ResponseError(message)


class Channel(Protocol):
    """Runs a Redis command and returns its reply as the protocol gives it (bytes, ints, nested
    lists, None), raising an error reply as its redis-py exception."""

    async def execute(self, *args: Any, timeout_s: float | None = None) -> Any: ...

    async def execute_all(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send ``commands`` back to back on one connection (a MULTI ... EXEC stays whole) and
        return their replies; the first error reply is raised once all have arrived."""
        ...

    async def aclose(self) -> None: ...


class _Replies(asyncio.Protocol):
    """One connection: requests written in order, replies handed to their waiters in order."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._reader = hiredis.Reader(replyError=reply_error)
        self._waiting: deque[tuple[asyncio.Future[Any], float | None]] = deque()
        self._watchdog: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        reader, waiting = self._reader, self._waiting
        reader.feed(data)
        try:
            while waiting:
                reply = reader.gets()
                if reply is False:
                    break
                future = waiting.popleft()[0]
                if future.done():
                    continue  # its caller was cancelled; the reply still had to be read off
                if isinstance(reply, exceptions.RedisError):  # an error reply (see reply_error)
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except hiredis.ProtocolError as exc:
            self._fail(exceptions.ConnectionError(f"protocol error from {self.address}: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(
            exceptions.ConnectionError(f"connection to {self.address} lost: {exc or 'closed'}")
        )

    def request(self, packed: bytes, timeout_s: float | None) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self.closed or self.transport is None:
            self.closed = True  # the next command connects afresh
            future.set_exception(exceptions.ConnectionError(f"not connected to {self.address}"))
            return future
        deadline = None if timeout_s is None else loop.time() + timeout_s
        self._waiting.append((future, deadline))
        self.transport.write(packed)
        if deadline is not None and self._watchdog is None:
            self._watchdog = loop.call_at(deadline, self._check_deadline)
        return future

    def close(self) -> None:
        self._fail(exceptions.ConnectionError(f"connection to {self.address} closed"))

    def _check_deadline(self) -> None:
        """Only the oldest request can be overdue first: replies come back in order."""
        self._watchdog = None
        loop = asyncio.get_running_loop()
        for _, deadline in self._waiting:
            if deadline is None:
                continue
            if deadline <= loop.time():
                self._fail(exceptions.TimeoutError(f"no reply from {self.address} in time"))
            else:
                self._watchdog = loop.call_at(deadline, self._check_deadline)
            return

    def _fail(self, error: exceptions.RedisError) -> None:
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self.transport is not None:
            self.transport.abort()
        while self._waiting:
            future = self._waiting.popleft()[0]
            if not future.done():
                future.set_exception(error)


class PipelinedChannel:
    """A connection of its own, opened on first use and again after it is lost.

    Args:
        host / port, or path: where Redis listens (TCP, or a unix socket).
        db / username / password / client_name: applied on every (re)connection.
        timeout_s: a command without a reply this long fails the connection (None: no limit).
        connect_timeout_s: the longest a connection attempt may take.
    """

    def __init__(
        self,
        *,
        host: str = "localhost",
        port: int = 6379,
        path: str | None = None,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        client_name: str | None = None,
        timeout_s: float | None = None,
        connect_timeout_s: float | None = 5.0,
    ) -> None:
        self.address = path or f"{host}:{port}"
        self._target = (host, port, path)
        self._handshake = _handshake(db, username, password, client_name)
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._replies: _Replies | None = None
        self._connecting = asyncio.Lock()

    async def execute(self, *args: Any, timeout_s: float | None = None) -> Any:
        """The reply to ``args``; ``timeout_s`` replaces the channel's timeout (a blocking read
        needs its block time on top)."""
        replies = self._replies
        if replies is None or replies.closed:
            replies = await self._connect()
        limit = self._timeout_s if timeout_s is None else timeout_s
        return await replies.request(hiredis.pack_command(args), limit)

    async def execute_all(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        replies = self._replies
        if replies is None or replies.closed:
            replies = await self._connect()
        # No await between the writes: nothing else can come between them on the socket.
        waiters = [replies.request(hiredis.pack_command(c), self._timeout_s) for c in commands]
        results = await asyncio.gather(*waiters, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    async def aclose(self) -> None:
        if self._replies is not None:
            self._replies.close()
            self._replies = None

    async def _connect(self) -> _Replies:
        async with self._connecting:
            if self._replies is not None and not self._replies.closed:
                return self._replies  # another caller connected meanwhile
            replies = await self._open()
            waiters = [replies.request(hiredis.pack_command(c), self._timeout_s)
                       for c in self._handshake]  # fmt: skip
            try:
                for waiter in waiters:
                    await waiter
            except exceptions.ResponseError as exc:
                replies.close()
                raise exceptions.ConnectionError(f"{self.address} refused set-up: {exc}") from exc
            except BaseException:
                replies.close()
                raise
            self._replies = replies
            return replies

    async def _open(self) -> _Replies:
        loop = asyncio.get_running_loop()
        host, port, path = self._target
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                if path:
                    _, replies = await loop.create_unix_connection(
                        lambda: _Replies(self.address), path
                    )
                else:
                    _, replies = await loop.create_connection(
                        lambda: _Replies(self.address), host, port
                    )
        except TimeoutError as exc:
            raise exceptions.TimeoutError(f"connecting to {self.address} timed out") from exc
        except OSError as exc:
            raise exceptions.ConnectionError(f"cannot connect to {self.address}: {exc}") from exc
        return replies


def _handshake(
    db: int, username: str | None, password: str | None, client_name: str | None
) -> list[tuple[Any, ...]]:
    commands: list[tuple[Any, ...]] = []
    if password:
        commands.append(("AUTH", username, password) if username else ("AUTH", password))
    if db:
        commands.append(("SELECT", db))
    if client_name:
        commands.append(("CLIENT", "SETNAME", client_name))
    return commands


class PooledChannel:
    """Each command on a connection of a redis-py client's pool, its reply left unparsed (no
    response callbacks): the channel for connections :class:`PipelinedChannel` does not make."""

    def __init__(self, client: Redis) -> None:
        self._pool = client.connection_pool

    async def execute(self, *args: Any, timeout_s: float | None = None) -> Any:
        connection = await self._pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await connection.send_command(*args)
            return await connection.read_response(timeout=timeout_s)
        except exceptions.ResponseError:
            raise  # an error reply: the connection is in step
        except BaseException:
            await connection.disconnect()  # a reply may still be on its way: start afresh
            raise
        finally:
            await self._pool.release(connection)

    async def execute_all(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        connection = await self._pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await connection.send_packed_command(
                b"".join(hiredis.pack_command(c) for c in commands)
            )
            results: list[Any] = []
            error: exceptions.ResponseError | None = None
            for _ in commands:
                try:
                    results.append(await connection.read_response())
                except exceptions.ResponseError as exc:
                    error = error or exc
                    results.append(exc)
            if error is not None:
                raise error
            return results
        except exceptions.ResponseError:
            raise
        except BaseException:
            await connection.disconnect()
            raise
        finally:
            await self._pool.release(connection)

    async def aclose(self) -> None:
        return None  # the connections belong to the client's pool


def channel_for(client: Redis) -> Channel:
    """A channel to the server ``client`` talks to, as the same user and database."""
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    if pool.connection_class not in (Connection, UnixDomainSocketConnection):
        return PooledChannel(client)
    return PipelinedChannel(
        host=kwargs.get("host", "localhost"),
        port=int(kwargs.get("port", 6379)),
        path=kwargs.get("path") if pool.connection_class is UnixDomainSocketConnection else None,
        db=int(kwargs.get("db") or 0),
        username=kwargs.get("username"),
        password=kwargs.get("password"),
        client_name=kwargs.get("client_name"),
        timeout_s=kwargs.get("socket_timeout"),
        connect_timeout_s=kwargs.get("socket_connect_timeout") or 5.0,
    )


class ChannelScript:
    """A Lua script run by SHA on a channel, loaded again when the server has lost it (a
    restart or a ``SCRIPT FLUSH``)."""

    def __init__(self, channel: Channel, source: str) -> None:
        self.channel = channel
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self.channel.execute("EVALSHA", self.sha, len(keys), *keys, *args)
        except exceptions.NoScriptError:
            await self.channel.execute("SCRIPT", "LOAD", self.source)
            return await self.channel.execute("EVALSHA", self.sha, len(keys), *keys, *args)
