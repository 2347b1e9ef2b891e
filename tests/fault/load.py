"""Producing test load: events with unique ids, posted as producers do, with a ledger.

The :class:`Producer` keeps the ledger the auditor checks against: an event counts as *posted*
only once Redis acknowledged its XADD. A post that fails because Redis is down (or out of memory,
refusing writes) is retried with the same ``event_id`` until it is acknowledged, as a careful
producer would (a retry whose first attempt did land is a duplicate post, which the idempotency
key absorbs).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable

import orjson
from redis.asyncio import Redis
from redis.exceptions import OutOfMemoryError

from shared.errors import REDIS_UNAVAILABLE
from shared.pipeline.keys import Keys
from shared.runtime.delivery import as_text

# A mix that exercises both terminal outcomes of the offline rules: answers and escalations.
TEXTS = (
    "My invoice is wrong, I was charged twice for the same subscription",
    "The app shows an error and crashes every time I open the settings page",
    "I forgot my password and cannot sign in to my account",
    "Where is my package? The tracking page has not changed for a week",
    "I would like a refund for order 1234, the item arrived broken",
    "What are your opening hours on public holidays?",
    "I want to speak to a human agent about my contract",
    "This is a formal complaint about the terrible service I received",
)


def payload(event_id: str, text: str | None = None, serial: int = 0) -> bytes:
    body = {
        "text": text or TEXTS[serial % len(TEXTS)],
        "customer_id": f"c-{serial % 97}",
        "channel": "email",
        "event_id": event_id,
    }
    return orjson.dumps(body)


class Producer:
    """Posts events to ``keys.stream("intake")`` and records which ones Redis acknowledged."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self.acknowledged: list[str] = []
        self.retries = 0

    async def post(self, event_id: str, body: bytes | None = None, serial: int = 0) -> str:
        """XADD until acknowledged (retrying while Redis is away); the new entry id."""
        raw = body if body is not None else payload(event_id, serial=serial)
        attempt = 0
        while True:
            try:
                entry_id = await self.redis.xadd(self.keys.stream("intake"), {"payload": raw})
            except (*REDIS_UNAVAILABLE, OutOfMemoryError):  # away, or refusing writes: back off
                attempt += 1
                self.retries += 1
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
                continue
            self.acknowledged.append(event_id)
            return as_text(entry_id)

    async def post_many(self, event_ids: Iterable[str], *, batch: int = 20) -> None:
        """Post ``event_ids`` as fast as Redis takes them, ``batch`` at a time."""
        ids = list(event_ids)
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            await asyncio.gather(*(self.post(e, serial=start + n) for n, e in enumerate(chunk)))

    async def post_until(self, tag: str, stop: asyncio.Event, *, rate_per_s: float,
                         batch: int = 10) -> None:  # fmt: skip
        """Post ``<tag>-00000``, ``<tag>-00001``... at about ``rate_per_s`` until ``stop`` is set.

        The pacing spreads the load over the fault window; it is a rate, not a synchronisation.
        """
        started = time.monotonic()
        serial = 0
        while not stop.is_set():
            ids = [event_id(tag, n) for n in range(serial, serial + batch)]
            await asyncio.gather(*(self.post(e, serial=serial + n) for n, e in enumerate(ids)))
            serial += batch
            delay = started + serial / rate_per_s - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)


def event_id(tag: str, serial: int) -> str:
    return f"{tag}-{serial:05d}"


def event_ids(tag: str, count: int) -> list[str]:
    return [event_id(tag, n) for n in range(count)]
