"""The live pipeline: streams, groups, lag, pending and its oldest age, consumers alive and dead,
events per second by outcome and cost per minute. The page polls ``/live.json`` (static/live.js).

Rates are read from the terminal streams' newest entries of the last minute (a bounded read at
any rate); the cost is the run records' spend of a sample of those events, scaled to the rate.
"""

from __future__ import annotations

import time
from typing import Any, cast

import orjson
from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.pipeline import PIPELINE
from shared.ops.console.web import SECURITY_HEADERS, render, session_of, state
from shared.ops.inbox import GROUP
from shared.pipeline.keys import Keys
from shared.runtime import streamstats
from shared.runtime.delivery import as_text

WINDOW_S = 60
RECENT = 1000  # newest entries read per terminal stream: the rate, and the cost sample
COST_SAMPLE = 200
PENDING_SAMPLE = 1000  # oldest pending entries read per group, for ages and delivery counts
OUTCOMES = {"responses": "responded", "escalations": "escalated", "dlq": "dead_lettered"}

Rows = list[tuple[bytes, dict[bytes, bytes]]]


async def page(request: Request) -> Response:
    session = session_of(request)
    snapshot = await collect(state(request).redis(session), state(request).keys)
    return render(request, "live.html", {"live": snapshot}, session=session)


async def data(request: Request) -> Response:
    session = session_of(request)
    snapshot = await collect(state(request).redis(session), state(request).keys)
    return JSONResponse(snapshot, headers=SECURITY_HEADERS)


async def collect(redis: Redis, keys: Keys) -> dict[str, Any]:
    """Everything the live view shows, as JSON data."""
    names = [keys.stream(name) for name in PIPELINE.streams()]
    states = await streamstats.collect(redis, keys, names, sample=PENDING_SAMPLE)
    rates: dict[str, float] = {}
    ended: list[str] = []
    now = time.time()
    since = f"{int((now - WINDOW_S) * 1000)}-0"
    for name, outcome in OUTCOMES.items():
        rows = cast(Rows, await redis.xrevrange(keys.stream(name), "+", since, count=RECENT))
        rates[outcome] = round(rate(rows, now), 2)
        ended += [as_text(f.get(b"event_id", b"")) for _, f in rows[:COST_SAMPLE]]
    sample = [e for e in ended if e]
    spent = await _cost(redis, keys, sample)
    per_minute = sum(rates.values()) * 60
    streams = streamstats.as_json(states)
    for stream_state in streams:
        for group in stream_state["groups"]:
            if group["name"] == GROUP:  # people, not workers: no heartbeats to tell alive by
                group["consumers_alive"] = group["consumers_dead"] = None
    return {
        "at": time.strftime("%H:%M:%S", time.gmtime(now)),
        "streams": streams,
        "events_per_s": rates,
        "cost_per_min_usd": round(spent / len(sample) * per_minute, 6) if sample else 0.0,
        "cost_sampled_events": len(sample),
    }


def rate(newest: Rows, now: float) -> float:
    """Entries per second over the last minute, from its newest entries (at most RECENT): all of
    them over the minute, or, when the minute held more, RECENT over the time they span."""
    if len(newest) < RECENT:
        return len(newest) / WINDOW_S
    oldest_s = int(as_text(newest[-1][0]).split("-")[0]) / 1000
    return len(newest) / max(now - oldest_s, 0.001)


async def _cost(redis: Redis, keys: Keys, event_ids: list[str]) -> float:
    if not event_ids:
        return 0.0
    async with redis.pipeline(transaction=False) as pipe:
        for event_id in event_ids:
            pipe.lrange(keys.run_steps(event_id), 0, -1)
        replies: list[list[bytes]] = await pipe.execute()
    return sum(float(orjson.loads(s).get("cost_usd", 0.0)) for steps in replies for s in steps)
