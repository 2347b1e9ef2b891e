"""Load: the events the benchmark posts, three ways of posting them, and the arrival collector.

* :func:`preload`: put N events on the intake stream at once (pipelined), for a drain run;
* :func:`post_paced`: post at a fixed rate on a schedule that does not drift;
* :func:`post_closed_loop`: keep a fixed number of events in the pipeline for a while.

Times are taken just before each XADD (``time.monotonic()`` for latencies, ``time.time()`` to
line up with run records). The :class:`Collector` reads the terminal streams with a blocking
XREAD and notes when each ``event_id`` arrived.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson
from redis.asyncio import Redis

from shared.ops.bench.streams import Fields, last_id, read

EntryMaker = Callable[[str, int], Fields]

# Requests the offline rules answer (no escalation), so every event makes all six hops.
TEXTS = (
    "I was charged twice on invoice INV-{n}, please fix the bill",
    "The app crashes with an error when I open my profile (case {n})",
    "Where is my package? Tracking for order #{n} has not moved",
    "Please refund order #{n}, I sent the item back last week",
    "How do I change my password? Request number {n}",
)


def request_payload(event_id: str, serial: int) -> bytes:
    """What a producer posts: the same JSON a user would XADD with redis-cli."""
    body = {
        "text": TEXTS[serial % len(TEXTS)].format(n=100_000 + serial),
        "customer_id": f"c-{serial % 97}",
        "channel": "email",
        "event_id": event_id,
    }
    return orjson.dumps(body)


def baton_entry(event_id: str, serial: int) -> Fields:
    return {b"payload": request_payload(event_id, serial)}


def raw_entry(event_id: str, serial: int) -> Fields:
    """The raw pipeline's input carries the id and hop as fields, so it never parses JSON."""
    return {
        b"payload": request_payload(event_id, serial),
        b"event_id": event_id.encode(),
        b"hop": b"0",
    }


def event_ids(tag: str, count: int, start: int = 0) -> list[str]:
    return [f"{tag}-{n:07d}" for n in range(start, start + count)]


@dataclass
class Sent:
    """When each event was posted: monotonic and wall-clock seconds, by event id."""

    mono: dict[str, float] = field(default_factory=dict)
    wall: dict[str, float] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def note(self, event_id: str) -> None:
        self.mono[event_id] = time.monotonic()
        self.wall[event_id] = time.time()
        self.order.append(event_id)


async def preload(redis: Redis, stream: str, entries: Sequence[Fields], chunk: int = 500) -> None:
    for start in range(0, len(entries), chunk):
        async with redis.pipeline(transaction=False) as pipe:
            for fields in entries[start : start + chunk]:
                pipe.xadd(stream, fields)  # type: ignore[arg-type]
            await pipe.execute()


async def post_paced(
    redis: Redis, stream: str, make: EntryMaker, ids: Sequence[str], rate: float
) -> Sent:
    """Post ``ids`` at ``rate`` per second; a late post does not shift the ones after it."""
    sent = Sent()
    start = time.monotonic() + 0.01
    for serial, event_id in enumerate(ids):
        delay = start + serial / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        fields = make(event_id, serial)
        sent.note(event_id)
        await redis.xadd(stream, fields)  # type: ignore[arg-type]
    return sent


async def post_closed_loop(
    redis: Redis,
    stream: str,
    make: EntryMaker,
    tag: str,
    window: asyncio.Semaphore,
    duration_s: float,
    max_events: int,
) -> Sent:
    """Post while fewer than the window's size are in flight, for ``duration_s`` seconds.

    The collector releases ``window`` once per arrival, so events in the pipeline stay at the
    window's size (an open loop would only measure a growing queue).
    """
    sent = Sent()
    deadline = time.monotonic() + duration_s
    serial = 0
    while serial < max_events:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            await asyncio.wait_for(window.acquire(), timeout=remaining)
        except TimeoutError:
            break
        event_id = f"{tag}-{serial:07d}"
        sent.note(event_id)
        await redis.xadd(stream, make(event_id, serial))  # type: ignore[arg-type]
        serial += 1
    return sent


class Collector:
    """Follows the terminal streams and notes each event's first arrival.

    Args:
        redis: a client of its own (its XREAD blocks).
        streams: the terminal streams to follow, from their current end.
        window: released once per first arrival (closed-loop posting), if given.
    """

    def __init__(
        self, redis: Redis, streams: list[str], window: asyncio.Semaphore | None = None
    ) -> None:
        self.redis = redis
        self.streams = streams
        self.window = window
        self.mono: dict[str, float] = {}
        self.wall: dict[str, float] = {}
        self.repeats = 0
        self._cursor: dict[str, bytes | str] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        for stream in self.streams:
            self._cursor[stream] = await last_id(self.redis, stream) or "0-0"
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        while not self._stopping.is_set():  # each read blocks for at most 100 ms
            reply = await read(self.redis, self._cursor, count=2000, block_ms=100)
            mono, wall = time.monotonic(), time.time()
            for stream, entries in reply:
                name = stream.decode()
                for entry_id, fields in entries:
                    self._cursor[name] = entry_id
                    self._arrived(fields.get(b"event_id", b"?").decode(), mono, wall)

    def _arrived(self, event_id: str, mono: float, wall: float) -> None:
        if event_id in self.mono:
            self.repeats += 1
            return
        self.mono[event_id] = mono
        self.wall[event_id] = wall
        if self.window is not None:
            self.window.release()

    async def wait_for(self, ids: Sequence[str], stall_s: float, cap_s: float) -> bool:
        """Wait until every id arrived; False after ``stall_s`` without progress or ``cap_s``."""
        wanted = set(ids)
        deadline = time.monotonic() + cap_s
        last_count, last_progress = -1, time.monotonic()
        while time.monotonic() < deadline:
            count = sum(1 for e in wanted if e in self.mono)
            if count == len(wanted):
                return True
            if count != last_count:
                last_count, last_progress = count, time.monotonic()
            elif time.monotonic() - last_progress > stall_s:
                return False
            await asyncio.sleep(0.02)
        return False

    async def stop(self) -> None:
        """Stop following, within a few seconds whatever happens.

        It asks the loop to end rather than cancelling it: a cancel that lands while redis-py's
        read times out can be turned into a TimeoutError that redis-py retries (Python 3.11),
        and the task would then never end.
        """
        task = self._task
        if task is None:
            return
        self._stopping.set()
        done, _ = await asyncio.wait({task}, timeout=5)
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=2)
        elif not task.cancelled() and (error := task.exception()) is not None:
            raise error
