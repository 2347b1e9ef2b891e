"""The run record: one per event, every stage attempt in order, kept for a retention period.

Layout: a hash ``<prefix>:run:<event_id>`` (status, reason, current stage, timestamps, where the
event ended) and a list ``<prefix>:run:<event_id>:steps`` of JSON steps. Both are written inside the
fenced commit, so a zombie worker can never add a step for work a peer already committed. The
retention period counts from the record's creation.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from redis.asyncio import Redis

from shared.runtime.jsonbytes import compact_json
from shared.runtime.keys import RuntimeKeys
from shared.runtime.outcome import Outcome

Op = tuple[str, str, list[bytes | str]]


def run_record_op(
    keys: RuntimeKeys, outcome: Outcome, retention_s: int, updated_at: str | None = None
) -> Op:
    """The commit op (``RUN`` in commit.lua) that records ``outcome`` on its event's run record.

    ``updated_at`` (a ``repr`` of a Unix time) defaults to now; a batch may stamp all its entries
    with one time.
    """
    event_id, step = outcome.event_id, outcome.step
    args: list[bytes | str] = [
        keys.run_steps(event_id),
        str(retention_s * 1000),
        repr(outcome.created_at or step.started_at),
        compact_json(step.as_dict()),
        "event_id", event_id,
        "status", outcome.status,
        "stage", step.stage,
        "updated_at", updated_at or repr(time.time()),
    ]  # fmt: skip
    if outcome.reason:
        args += ("reason", outcome.reason)
    return ("RUN", keys.run(event_id), args)


async def load_run(redis: Redis, keys: RuntimeKeys, event_id: str) -> dict[str, Any] | None:
    """Read a run record, or None when there is none (never seen, or expired)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.run(event_id))
        pipe.lrange(keys.run_steps(event_id), 0, -1)
        header, steps = await pipe.execute()
    if not header:
        return None
    record: dict[str, Any] = {k.decode(): v.decode() for k, v in header.items()}
    for stamp in ("created_at", "updated_at"):
        if stamp in record:
            record[stamp] = float(record[stamp])
    record["steps"] = [orjson.loads(s) for s in steps]
    return record


async def note_failure(
    redis: Redis, keys: RuntimeKeys, event_id: str, error: str, ttl_s: int
) -> None:
    """Remember an event's latest error, so whoever dead-letters it later can say why.

    Not fenced: it is informational, and a stale value is harmless.
    """
    run_key = keys.run(event_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(run_key, mapping={"last_error": error[:500], "event_id": event_id})
        pipe.expire(run_key, ttl_s)
        await pipe.execute()


async def mark_alone(
    redis: Redis, keys: RuntimeKeys, event_id: str, entry: str, consumer: str, ttl_s: int
) -> bool:
    """Mark on the run record that ``entry`` (``<group>:<entry id>``) runs alone now, by
    ``consumer``; False if it already had its turn (see :mod:`shared.runtime.isolation`)."""
    run_key = keys.run(event_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hsetnx(run_key, f"alone:{entry}", consumer)
        pipe.expire(run_key, ttl_s)
        first, _ = await pipe.execute()
    return bool(first)
