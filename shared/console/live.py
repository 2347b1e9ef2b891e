"""The live pipeline: streams, groups, lag, pending and its oldest age, consumers alive and dead,
events per second by outcome and cost per minute. The page polls ``/live.json`` (static/live.js).

Rates are counted from the terminal streams' ids over the last minute (bounded reads); the cost
is the run records' spend of a bounded sample of the events that ended in that minute.
"""

from __future__ import annotations

import time
from typing import Any, cast

import orjson
from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.pipeline import PIPELINE
from shared import streamstats
from shared.console.web import SECURITY_HEADERS, render, session_of, state
from shared.delivery import as_text
from shared.inbox import GROUP
from shared.keys import Keys

WINDOW_S = 60
COUNT_CAP = 20_000  # entries read per stream and window at most (the rate saturates above)
COST_SAMPLE = 200
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
    states = await streamstats.collect(redis, keys, names)
    since_ms = int((time.time() - WINDOW_S) * 1000)
    rates: dict[str, float] = {}
    ended: list[str] = []
    for name, outcome in OUTCOMES.items():
        rows = cast(
            Rows, await redis.xrange(keys.stream(name), f"{since_ms}-0", "+", count=COUNT_CAP)
        )
        rates[outcome] = round(len(rows) / WINDOW_S, 2)
        ended += [as_text(f.get(b"event_id", b"")) for _, f in rows[-COST_SAMPLE:]]
    sample = [e for e in ended if e][-COST_SAMPLE:]
    spent = await _cost(redis, keys, sample)
    total = sum(rates.values()) * WINDOW_S
    scale = total / len(sample) if sample else 0.0
    streams = streamstats.as_json(states)
    for stream in streams:
        for group in stream["groups"]:
            if group["name"] == GROUP:  # people, not workers: no heartbeats to tell alive by
                group["consumers_alive"] = group["consumers_dead"] = None
    return {
        "at": time.strftime("%H:%M:%S", time.gmtime()),
        "streams": streams,
        "events_per_s": rates,
        "cost_per_min_usd": round(spent * scale, 6),
        "cost_sampled_events": len(sample),
    }


async def _cost(redis: Redis, keys: Keys, event_ids: list[str]) -> float:
    if not event_ids:
        return 0.0
    async with redis.pipeline(transaction=False) as pipe:
        for event_id in event_ids:
            pipe.lrange(keys.run_steps(event_id), 0, -1)
        replies: list[list[bytes]] = await pipe.execute()
    return sum(float(orjson.loads(s).get("cost_usd", 0.0)) for steps in replies for s in steps)
