"""Posting events from your own Python code, and waiting for where they end.

Events are posted exactly as ``redis-cli XADD <prefix>:intake * payload <json>`` would post them;
the pipeline validates them (a bad one becomes a dead letter with its reason, never lost).

    async with AsyncProducer.connect("redis://producer:secret@redis:6379/0") as producer:
        posted = await producer.post({"text": "My invoice is wrong", "event_id": "inv-42"})
        outcome = await producer.wait(posted, timeout=60)
        print(outcome.status, outcome.entry)

    with Producer.connect(url) as producer:            # the same, without asyncio
        for posted in producer.post_many(lines, batch=500):
            ...

``post_many`` sends each batch as one MULTI/EXEC transaction in one round trip: a batch is posted
whole or not at all, so after a failure every event before :attr:`PostError.posted` is in Redis
and none after it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, cast

import orjson
from pydantic import ValidationError
from redis.asyncio import Redis

from shared.errors import REDIS_UNAVAILABLE, BatonError, ContractError
from shared.pipeline.contracts import CustomerRequest
from shared.pipeline.envelope import validation_errors
from shared.pipeline.keys import Keys
from shared.pipeline.submission import event_id_of
from shared.runtime.channel import channel_for
from shared.runtime.delivery import as_text
from shared.runtime.outcome import TERMINAL_STATUSES
from shared.runtime.redis_client import connect

Request = CustomerRequest | Mapping[str, Any] | bytes
"""A request: a contract, its JSON data (validated here), or raw payload bytes (posted as they
are, like redis-cli: the pipeline dead-letters them if they break the contract)."""
TERMINAL_STREAMS = {"responded": "responses", "escalated": "escalations", "dead_lettered": "dlq"}
# How far around a run record's last update its terminal entry is looked for (stream ids are
# the server's clock in ms; the record is stamped by the committing worker's).
_SKEW_MS = 60_000
_SCAN = 1_000


@dataclass(frozen=True)
class Posted:
    """An event Redis accepted: the event id the pipeline gives it, and its intake entry."""

    event_id: str
    entry_id: str


@dataclass(frozen=True)
class EventOutcome:
    """Where an event ended: ``responded``, ``escalated`` or ``dead_lettered`` with the terminal
    entry's fields (JSON fields parsed), or ``timeout`` when it had not ended in time."""

    event_id: str
    status: str
    reason: str | None = None
    entry: dict[str, Any] | None = None

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL_STATUSES


class PostError(BatonError):
    """Posting stopped: the first ``posted`` requests are in Redis (their ids in ``done``), the
    rest are not."""

    def __init__(self, detail: str, done: list[Posted]) -> None:
        super().__init__(detail, reason="post_failed")
        self.done = done

    @property
    def posted(self) -> int:
        return len(self.done)


class AsyncProducer:
    """Posts to the entry stream of a pipeline under ``prefix`` and reads where events ended.

    Args:
        redis: a client (the ``producer`` user of ``baton acl`` may XADD to the entry stream and
            read the terminal streams and run statuses, which is all this needs).
        entry_stream: the stream producers post to (the first agent's; ``intake``).
        max_payload_bytes: the intake's limit, to name too-large events as intake will.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "baton",
        entry_stream: str = "intake",
        max_payload_bytes: int = 65_536,
    ) -> None:
        self.redis = redis
        self._channel = channel_for(redis)  # batches go on a socket of their own (hiredis)
        self.keys = Keys(prefix)
        self.stream = self.keys.stream(entry_stream)
        self.max_payload_bytes = max_payload_bytes

    @classmethod
    def connect(cls, url: str, **options: Any) -> AsyncProducer:
        return cls(connect(url, max_connections=4), **options)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._channel.aclose()
        await self.redis.aclose()

    async def post(self, request: Request) -> Posted:
        """Post one request; its event id and entry id once Redis has it."""
        (posted,) = await self.post_many([request])
        return posted

    async def post_many(
        self,
        requests: Iterable[Request],
        *,
        batch: int = 500,
        on_batch: Callable[[list[Posted]], None] | None = None,
    ) -> list[Posted]:
        """Post ``requests`` in order, ``batch`` per round trip (each batch all or nothing).

        ``on_batch`` is called with each batch once Redis has it. Raises :class:`PostError`
        (saying how many were posted) when Redis fails, and :class:`ContractError` for a
        request given as data that breaks the contract (before anything of its batch is sent).
        """
        if batch < 1:
            raise BatonError("batch must be at least 1")
        done: list[Posted] = []
        chunk: list[bytes] = []
        for request in requests:
            chunk.append(payload_of(request))
            if len(chunk) == batch:
                done += await self._send(chunk, done, on_batch)
                chunk = []
        if chunk:
            done += await self._send(chunk, done, on_batch)
        return done

    async def _send(
        self,
        chunk: list[bytes],
        done: list[Posted],
        on_batch: Callable[[list[Posted]], None] | None,
    ) -> list[Posted]:
        commands = [("MULTI",), *(("XADD", self.stream, "*", "payload", p) for p in chunk)]
        try:
            *_, entry_ids = await self._channel.execute_all([*commands, ("EXEC",)])
        except REDIS_UNAVAILABLE as exc:
            raise PostError(f"Redis failed after {len(done)} posted: {exc}", done) from exc
        if entry_ids is None:  # EXEC answered nil: the transaction was discarded
            raise PostError(f"Redis discarded a batch after {len(done)} posted", done)
        posted = [
            Posted(self._event_id(payload, as_text(entry_id)), as_text(entry_id))
            for payload, entry_id in zip(chunk, entry_ids, strict=True)
        ]
        if on_batch is not None:
            on_batch(posted)
        return posted

    def _event_id(self, payload: bytes, entry_id: str) -> str:
        return event_id_of({b"payload": payload}, entry_id, self.max_payload_bytes)

    async def wait(self, posted: Posted, timeout: float = 60.0) -> EventOutcome:
        """Wait until the event has ended (or ``timeout`` seconds pass); where it ended."""
        deadline = time.monotonic() + timeout
        run_key = self.keys.run(posted.event_id)
        while True:
            status, updated = await self.redis.hmget(run_key, ["status", "updated_at"])
            if status is not None and as_text(status) in TERMINAL_STATUSES:
                stamp = float(updated) if updated is not None else time.time()
                return await self._outcome(posted.event_id, as_text(status), stamp)
            if time.monotonic() >= deadline:
                return EventOutcome(posted.event_id, "timeout")
            await asyncio.sleep(0.05)

    async def _outcome(self, event_id: str, status: str, updated_at: float) -> EventOutcome:
        """The terminal entry, looked for around the time its run record was last updated
        (duplicates of an old event included), never by scanning the whole stream."""
        stream = self.keys.stream(TERMINAL_STREAMS[status])
        start = max(0, int(updated_at * 1000) - _SKEW_MS)
        stop = int(updated_at * 1000) + _SKEW_MS
        cursor = str(start)
        while True:
            entries = cast(
                list[tuple[bytes, dict[bytes, bytes]]],
                await self.redis.xrange(stream, min=cursor, max=str(stop), count=_SCAN),
            )
            for _, fields in entries:
                if fields.get(b"event_id", b"").decode() == event_id:
                    entry = decode_entry(fields)
                    return EventOutcome(event_id, status, entry.get("reason"), entry)
            if len(entries) < _SCAN:
                return EventOutcome(event_id, status)
            cursor = "(" + as_text(entries[-1][0])


class Producer:
    """:class:`AsyncProducer` for code without an event loop: each call runs on a loop of its
    own that lives as long as the producer."""

    def __init__(self, url: str, **options: Any) -> None:
        self._runner = asyncio.Runner()
        self._async = self._runner.run(_make(url, options))

    @classmethod
    def connect(cls, url: str, **options: Any) -> Producer:
        return cls(url, **options)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._runner.run(self._async.aclose())
        self._runner.close()

    def post(self, request: Request) -> Posted:
        return self._runner.run(self._async.post(request))

    def post_many(
        self,
        requests: Iterable[Request],
        *,
        batch: int = 500,
        on_batch: Callable[[list[Posted]], None] | None = None,
    ) -> list[Posted]:
        return self._runner.run(self._async.post_many(requests, batch=batch, on_batch=on_batch))

    def wait(self, posted: Posted, timeout: float = 60.0) -> EventOutcome:
        return self._runner.run(self._async.wait(posted, timeout))


async def _make(url: str, options: Mapping[str, Any]) -> AsyncProducer:
    return AsyncProducer.connect(url, **options)  # the client binds to the running loop


def payload_of(request: Request) -> bytes:
    """The payload field for ``request``: raw bytes as given; data validated first (a
    :class:`ContractError` says what is wrong, before anything is sent)."""
    if isinstance(request, bytes):
        return request
    if not isinstance(request, CustomerRequest):
        try:
            request = CustomerRequest.model_validate(dict(request))
        except ValidationError as exc:
            problems = "; ".join(f"{e['loc']}: {e['msg']}" for e in validation_errors(exc)[:5])
            raise ContractError(f"the request breaks its contract: {problems}") from exc
    return request.model_dump_json(exclude_none=True).encode()


def decode_entry(fields: Mapping[bytes, bytes]) -> dict[str, Any]:
    """A terminal entry's fields as text, with its JSON fields parsed."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        name = key.decode("utf-8", "replace")
        if name in ("envelope", "response", "packet", "errors"):
            try:
                out[name] = orjson.loads(value)
                continue
            except orjson.JSONDecodeError:
                pass
        out[name] = value.decode("utf-8", "replace")
    return out
