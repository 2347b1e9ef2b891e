"""The live pipeline: streams, groups, lag, pending and its oldest age, consumers alive and dead,
events per second by outcome and cost per minute. The page polls ``/live.json`` (static/live.js).

Rates come from the terminal streams' entries-added counters (XINFO STREAM) between two looks;
the cost is the run records' spend of a bounded sample of the events that ended in the last
minute, scaled to the rate.
"""

from __future__ import annotations

import time
from typing import Any, cast

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.pipeline import PIPELINE
from shared import streamstats
from shared.console.web import SECURITY_HEADERS, render, session_of, state
from shared.delivery import as_text
from shared.inbox import GROUP
from shared.keys import Keys

WINDOW_S = 60
FIRST_COUNT_CAP = 1000  # entries a first look counts at most (later ones use XINFO's counters)
COST_SAMPLE = 200
PENDING_SAMPLE = 1000  # oldest pending entries read per group, for ages and delivery counts
OUTCOMES = {"responses": "responded", "escalations": "escalated", "dlq": "dead_lettered"}

Rows = list[tuple[bytes, dict[bytes, bytes]]]
Samples = dict[str, tuple[float, int]]
"""Per terminal stream: when it was last looked at, and how many entries it had added by then."""


async def page(request: Request) -> Response:
    session = session_of(request)
    console = state(request)
    snapshot = await collect(console.redis(session), console.keys, console.live_samples)
    return render(request, "live.html", {"live": snapshot}, session=session)


async def data(request: Request) -> Response:
    session = session_of(request)
    console = state(request)
    snapshot = await collect(console.redis(session), console.keys, console.live_samples)
    return JSONResponse(snapshot, headers=SECURITY_HEADERS)


async def collect(redis: Redis, keys: Keys, samples: Samples) -> dict[str, Any]:
    """Everything the live view shows, as JSON data. ``samples`` carries the streams' counters
    from one call to the next, so a rate costs one XINFO STREAM however busy the stream is."""
    names = [keys.stream(name) for name in PIPELINE.streams()]
    states = await streamstats.collect(redis, keys, names, sample=PENDING_SAMPLE)
    rates: dict[str, float] = {}
    ended: list[str] = []
    since = f"{int((time.time() - WINDOW_S) * 1000)}-0"
    for name, outcome in OUTCOMES.items():
        stream = keys.stream(name)
        rates[outcome] = await _rate(redis, stream, samples, since)
        recent = cast(Rows, await redis.xrevrange(stream, "+", since, count=COST_SAMPLE))
        ended += [as_text(f.get(b"event_id", b"")) for _, f in recent]
    sample = [e for e in ended if e]
    spent = await _cost(redis, keys, sample)
    per_minute = sum(rates.values()) * 60
    streams = streamstats.as_json(states)
    for stream_state in streams:
        for group in stream_state["groups"]:
            if group["name"] == GROUP:  # people, not workers: no heartbeats to tell alive by
                group["consumers_alive"] = group["consumers_dead"] = None
    return {
        "at": time.strftime("%H:%M:%S", time.gmtime()),
        "streams": streams,
        "events_per_s": rates,
        "cost_per_min_usd": round(spent / len(sample) * per_minute, 6) if sample else 0.0,
        "cost_sampled_events": len(sample),
    }


async def _rate(redis: Redis, stream: str, samples: Samples, since: str) -> float:
    """Entries per second: from XINFO's entries-added since the last look, else (a first look)
    counted over the last minute, at most :data:`FIRST_COUNT_CAP`."""
    now = time.monotonic()
    try:
        info = await redis.xinfo_stream(stream)
    except ResponseError:  # no stream yet
        return 0.0
    added = int(info.get("entries-added") or 0)
    previous = samples.get(stream)
    samples[stream] = (now, added)
    if previous is not None and WINDOW_S / 60 <= now - previous[0] <= 5 * WINDOW_S:
        return round((added - previous[1]) / (now - previous[0]), 2)
    if previous is not None and now - previous[0] < WINDOW_S / 60:
        samples[stream] = previous  # too soon to tell: keep the older look
    rows = cast(Rows, await redis.xrange(stream, since, "+", count=FIRST_COUNT_CAP))
    return round(len(rows) / WINDOW_S, 2)


async def _cost(redis: Redis, keys: Keys, event_ids: list[str]) -> float:
    if not event_ids:
        return 0.0
    async with redis.pipeline(transaction=False) as pipe:
        for event_id in event_ids:
            pipe.lrange(keys.run_steps(event_id), 0, -1)
        replies: list[list[bytes]] = await pipe.execute()
    return sum(float(orjson.loads(s).get("cost_usd", 0.0)) for steps in replies for s in steps)
