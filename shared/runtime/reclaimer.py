"""Ownership upkeep for one consumer: heartbeat, keep-alive, reclaiming and cleaning up.

* Every ``reclaim_interval_s`` it takes over entries idle longer than the reclaim threshold
  (XAUTOCLAIM): the in-flight work of a crashed or frozen peer. Entries trimmed from the stream
  while pending are dead-lettered as ``trimmed``.
* More often than the threshold it resets the idle time of its own in-flight entries, so a slow
  but healthy LLM call is never handed to a peer; an entry a peer already took is abandoned.
* It keeps a heartbeat key with an expiry, and removes consumers of its group that are gone
  (no heartbeat) and own nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from pathlib import Path
from typing import Protocol

import orjson
import structlog
from redis.asyncio import Redis

from shared.errors import REDIS_UNAVAILABLE
from shared.runtime.commit import load_lua
from shared.runtime.deadletter import TRIMMED, dead_letter_fields
from shared.runtime.delivery import Delivery, as_text
from shared.runtime.health import write_heartbeat
from shared.runtime.keys import RuntimeKeys
from shared.runtime.settings import RuntimeSettings

log = structlog.get_logger("baton.reclaimer")

NOT_OWNED = -1
TRIMMED_ENTRY = -2


class Owner(Protocol):
    """The consumer whose entries a :class:`Reclaimer` looks after
    (``shared.runtime.consumer.Worker``)."""

    settings: RuntimeSettings
    keys: RuntimeKeys
    stream: str
    group: str
    consumer: str

    @property
    def inflight_ids(self) -> list[str]: ...

    @property
    def free_slots(self) -> int:
        """How many more entries it may take on now."""
        ...

    def start(self, delivery: Delivery) -> None:
        """Process ``delivery`` (a claimed entry) in the background."""
        ...

    def abandon(self, entry_id: str) -> bool:
        """Stop working on an entry a peer took over; False when it is not in flight here."""
        ...


class Reclaimer:
    def __init__(self, worker: Owner, redis: Redis) -> None:
        self._worker = worker
        self._redis = redis
        self._settings = worker.settings
        self._claim_own = redis.register_script(load_lua("claim_own.lua"))
        self._forget_consumer = redis.register_script(load_lua("forget_consumer.lua"))
        self._heartbeat_key = worker.keys.heartbeat(worker.group, worker.consumer)
        self._started_at = time.time()
        self._heartbeat_file_failed = False
        self._running = True
        self._stopped = asyncio.Event()

    @property
    def keepalive_interval_s(self) -> float:
        return max(0.05, min(self._settings.reclaim_idle_s / 4, self._settings.heartbeat_ttl_s / 3))

    async def run(self) -> None:
        """Loop until cancelled; Redis outages are logged and waited out."""
        next_reclaim = time.monotonic()
        while self._running:
            try:
                await self.beat()
                await self._keep_alive()
                if time.monotonic() >= next_reclaim:
                    next_reclaim = time.monotonic() + self._settings.reclaim_interval_s
                    await self.reclaim()
                    await self.remove_departed_consumers()
            except REDIS_UNAVAILABLE as exc:
                log.warning("upkeep_failed", error=str(exc)[:200])
            except Exception as exc:  # heartbeat and reclaim must never stop
                log.error("upkeep_error", error=repr(exc)[:300])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self.keepalive_interval_s)

    def stop(self) -> None:
        """End :meth:`run` at its next turn (a cancel alone can be swallowed by a Redis read)."""
        self._running = False
        self._stopped.set()

    async def beat(self) -> None:
        """Write the heartbeat that ``baton worker NAME --check`` and ``baton status`` read, and
        the heartbeat file that ``python -m shared.runtime.health`` reads (if one is configured)."""
        info = {
            "consumer": self._worker.consumer,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": self._started_at,
            "inflight": len(self._worker.inflight_ids),
        }
        ttl_ms = int(self._settings.heartbeat_ttl_s * 1000)
        await self._redis.set(self._heartbeat_key, orjson.dumps(info), px=ttl_ms)
        if self._settings.heartbeat_file is not None:
            self._write_heartbeat_file(self._settings.heartbeat_file)

    def _write_heartbeat_file(self, path: Path) -> None:
        """A file the worker cannot write (a read-only root) only fails the file's check: it
        never stops the upkeep. Said once."""
        try:
            write_heartbeat(path, self._worker.consumer, self._settings.heartbeat_ttl_s)
        except OSError as exc:
            if not self._heartbeat_file_failed:
                log.warning("heartbeat_file_unwritable", path=str(path), error=str(exc)[:200])
            self._heartbeat_file_failed = True

    async def farewell(self) -> None:
        if self._settings.heartbeat_file is not None:
            self._settings.heartbeat_file.unlink(missing_ok=True)
        with contextlib.suppress(*REDIS_UNAVAILABLE):
            await self._redis.delete(self._heartbeat_key)

    async def _keep_alive(self) -> None:
        ids = self._worker.inflight_ids
        if not ids:
            return
        counts = await self._run_claim_own("touch", ids)
        for entry_id, count in zip(ids, counts, strict=True):
            # Not pending here any more: a peer took it, or this worker's own commit just
            # acknowledged it while the touch was on its way (then there is nothing to abandon).
            if count == NOT_OWNED and self._worker.abandon(entry_id):
                log.warning("ownership_lost", entry_id=entry_id, consumer=self._worker.consumer)

    async def redeliver(self, delivery: Delivery) -> Delivery | None:
        """Claim a failed entry again as a new delivery (its count goes up), if still ours."""
        try:
            (count,) = await self._run_claim_own("retry", [delivery.entry_id])
        except REDIS_UNAVAILABLE as exc:
            log.warning("redeliver_failed", entry_id=delivery.entry_id, error=str(exc)[:200])
            return None  # still pending: reclaimed once idle
        if count == NOT_OWNED:
            return None
        fields = None if count == TRIMMED_ENTRY else delivery.fields
        return Delivery(delivery.stream, delivery.entry_id, fields, max(count, delivery.count + 1))

    async def _run_claim_own(self, mode: str, ids: list[str]) -> list[int]:
        w = self._worker
        result: list[int] = await self._claim_own(
            keys=[w.stream], args=[w.group, w.consumer, mode, *ids]
        )
        return result

    async def reclaim(self) -> None:
        """Take over entries idle past the threshold, as many as there are free slots."""
        w = self._worker
        cursor = "0-0"
        while w.free_slots > 0:
            cursor_raw, claimed, *rest = await self._redis.xautoclaim(
                w.stream,
                w.group,
                w.consumer,
                min_idle_time=self._settings.reclaim_idle_ms_effective,
                start_id=cursor,
                count=min(w.free_slots, 100),
            )
            # Redis >= 7 lists entries deleted from the stream separately; 6.2 returns nil bodies.
            await self._dead_letter_deleted([as_text(d) for d in (rest[0] if rest else [])])
            live = [(as_text(eid), fields) for eid, fields in claimed]
            if live:
                await self._start_claimed(live)
            cursor = as_text(cursor_raw)
            if cursor == "0-0":
                return

    async def _start_claimed(self, entries: list[tuple[str, dict[bytes, bytes] | None]]) -> None:
        w = self._worker
        async with self._redis.pipeline(transaction=False) as pipe:
            for entry_id, _ in entries:
                pipe.xpending_range(w.stream, w.group, entry_id, entry_id, 1)
            pending = await pipe.execute()
        for (entry_id, fields), info in zip(entries, pending, strict=True):
            count = int(info[0]["times_delivered"]) if info else 1
            log.info("reclaimed", entry_id=entry_id, delivery=count, consumer=w.consumer)
            w.start(Delivery(w.stream, entry_id, fields, count))

    async def _dead_letter_deleted(self, entry_ids: list[str]) -> None:
        """Entries trimmed while pending: XAUTOCLAIM already dropped them from the PEL."""
        w = self._worker
        for entry_id in entry_ids:
            delivery = Delivery(w.stream, entry_id, None)
            fields = dead_letter_fields(
                service=w.group,
                delivery=delivery,
                event_id=f"evt-{entry_id}",
                reason=TRIMMED,
                detail="entry was trimmed from the stream while still pending",
            )
            await self._redis.xadd(w.keys.dlq, fields)  # type: ignore[arg-type]
            log.error("trimmed_entry_dead_lettered", entry_id=entry_id, stream=w.stream)

    async def remove_departed_consumers(self) -> None:
        """Delete consumers with no heartbeat that own no pending entries."""
        w = self._worker
        consumers = await self._redis.xinfo_consumers(w.stream, w.group)
        idle_floor_ms = self._settings.heartbeat_ttl_s * 1000
        for consumer in consumers:
            name = as_text(consumer["name"])
            if name == w.consumer or int(consumer["pending"]) > 0:
                continue
            if int(consumer["idle"]) < idle_floor_ms:
                continue
            if await self._redis.exists(w.keys.heartbeat(w.group, name)):
                continue
            # Atomic with its own pending check: it may have read entries since XINFO.
            if await self._forget_consumer(keys=[w.stream], args=[w.group, name]):
                log.info("departed_consumer_removed", consumer=name, group=w.group)

    async def last_error(self, event_id: str) -> str | None:
        try:
            value = await self._redis.hget(self._worker.keys.run(event_id), "last_error")
        except REDIS_UNAVAILABLE:
            return None
        return as_text(value) if value is not None else None
