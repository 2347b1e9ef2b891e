"""Page timings of the console at a real backlog: ``python -m shared.ops.console.pagebench``.

Starts its own Redis (embedded, in a temporary folder), fills the escalations and dead-letter
streams with ``--entries`` entries each (100,000 by default) shaped like the pipeline's, and
times each page through the real app (routing, Redis, templates) with an in-process HTTP client:
the first page, a deep page (by cursor), filtered pages that match rarely (bounded scans), an
entry's page and the live view. Prints a table and writes JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import httpx
import orjson
from pydantic import SecretStr
from redis.asyncio import Redis

from shared.ops.console import paging
from shared.ops.console.app import create_app
from shared.ops.console.settings import ConsoleSettings
from shared.ops.embedded import EmbeddedRedis
from shared.ops.inbox import CONSUMER, GROUP
from shared.pipeline.keys import Keys
from shared.pipeline.settings import BatonSettings
from shared.runtime.delivery import as_text
from shared.runtime.redis_client import connect

TOKEN = "pagebench-operator-token"
CATEGORIES = ("billing", "technical", "account", "shipping", "general")


Fields = dict[str | bytes, str | bytes]


def _escalation(n: int) -> Fields:
    category = "legal" if n % 1000 == 999 else CATEGORIES[n % len(CATEGORIES)]
    packet = {
        "event_id": f"esc-{n}",
        "reason": "human_requested" if n % 3 else "low_confidence",
        "text": f"Request {n}: I was charged twice for my subscription and want it refunded. " * 3,
        "summary": f"Customer {n} reports a double charge.",
        "language": "en",
        "channel": "email",
        "classification": {"category": category, "priority": "high" if n % 7 == 0 else "normal"},
        "scores": {"confidence": 0.42, "injection_risk": 0.0},
        "signals": ["human_requested"],
        "tried": ["intake", "triage"],
        "results": {"intake": {"text": "...", "language": "en"}, "triage": {"category": category}},
        "suggested_action": "Contact the customer directly.",
    }
    return {"event_id": f"esc-{n}", "reason": str(packet["reason"]),
            "packet": orjson.dumps(packet), "envelope": b"{}" * 200}  # fmt: skip


def _dead_letter(n: int) -> Fields:
    reason = "budget_exceeded" if n % 1000 == 999 else ("llm_error", "parse_error")[n % 2]
    return {
        "event_id": f"dl-{n}",
        "reason": reason,
        "detail": "triage model returned garbage",
        "stage": ("triage", "intake")[n % 2],
        "deliveries": "5",
        "payload": orjson.dumps({"text": f"My invoice {n} is wrong " * 10, "channel": "email"}),
    }


async def fill(redis: Redis, keys: Keys, entries: int) -> None:
    for stream, make in ((keys.escalations, _escalation), (keys.dlq, _dead_letter)):
        for start in range(0, entries, 2000):
            async with redis.pipeline(transaction=False) as pipe:
                for n in range(start, min(entries, start + 2000)):
                    pipe.xadd(stream, make(n))  # type: ignore[arg-type]
                await pipe.execute()
    # Dead letters as operators leave them: the group has read them all, resolved a third.
    await redis.xgroup_create(keys.dlq, GROUP, id="0")
    while await redis.xreadgroup(GROUP, CONSUMER, {keys.dlq: ">"}, count=10_000):
        pass
    rows = cast(list[tuple[bytes, Any]], await redis.xrange(keys.dlq, count=entries // 3))
    ids = [entry_id for entry_id, _ in rows]
    for start in range(0, len(ids), 5000):
        await redis.xack(keys.dlq, GROUP, *ids[start : start + 5000])


async def _newest_ids(redis: Redis, stream: str, count: int) -> list[str]:
    rows = cast(list[tuple[bytes, Any]], await redis.xrevrange(stream, count=count))
    return [as_text(entry_id) for entry_id, _ in rows]


async def time_pages(http: httpx.AsyncClient, pages: dict[str, str], runs: int) -> list[Any]:
    rows = []
    for name, path in pages.items():
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            reply = await http.get(path)
            samples.append((time.perf_counter() - started) * 1000)
            assert reply.status_code == 200, (path, reply.status_code, reply.text[:300])
        samples.sort()
        rows.append({"page": name, "path": path, "median_ms": round(statistics.median(samples), 1),
                     "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 1),
                     "max_ms": round(samples[-1], 1)})  # fmt: skip
    return rows


async def run(entries: int, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        server = EmbeddedRedis(Path(folder), appendfsync=None)
        server.start()
        try:
            return await _bench(server.url, entries, runs)
        finally:
            server.stop()


async def _bench(url: str, entries: int, runs: int) -> dict[str, Any]:
    keys = Keys("bench")
    redis = connect(url)
    started = time.perf_counter()
    await fill(redis, keys, entries)
    fill_s = time.perf_counter() - started
    esc_ids = await _newest_ids(redis, keys.escalations, 60)
    dlq_ids = await _newest_ids(redis, keys.dlq, 60)
    base = BatonSettings(redis_url=url, prefix=keys.prefix)
    settings = ConsoleSettings(token=SecretStr(TOKEN))
    app = create_app(base, settings, connect(url))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
        form = await http.get("/login")
        csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
        await http.post("/login", data={"csrf": csrf, "token": TOKEN})
        pages = {
            "escalations, first page (unread by the group)": "/escalations",
            "escalations, deep page (cursor)": f"/escalations?after={esc_ids[-1]}",
            "escalations, rare category (bounded scan)": "/escalations?category=legal",
            "escalations, priority + age filter": "/escalations?priority=high&older_than_min=0",
            "escalation packet": f"/escalations/{esc_ids[0]}",
            "dead letters, first open page (XPENDING)": "/dlq",
            "dead letters, deep page (cursor)": f"/dlq?after={dlq_ids[-1]}",
            "dead letters, rare reason (bounded scan)": "/dlq?reason=budget_exceeded",
            "dead letters, with resolved": "/dlq?all=1",
            "dead letter raw entry": f"/dlq/{dlq_ids[0]}",
            "live view (JSON)": "/live.json",
        }
        rows = await time_pages(http, pages, runs)
        started = time.perf_counter()
        await paging.take(redis, keys.escalations, esc_ids[0])  # the first resolve's one-off read
        take_ms = (time.perf_counter() - started) * 1000
        after = {
            "escalations, first page (all pending)": "/escalations",
            "escalations, deep page (pending, cursor)": f"/escalations?after={esc_ids[-1]}",
        }
        rows += await time_pages(http, after, runs)
    await redis.aclose()
    return {"entries": entries, "runs": runs, "fill_s": round(fill_s, 1),
            "first_resolve_take_ms": round(take_ms, 1), "pages": rows}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("bench-results/console-pages.json"))
    args = parser.parse_args()
    result = asyncio.run(run(args.entries, args.runs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(f"{result['entries']} escalations and {result['entries']} dead letters "
          f"(filled in {result['fill_s']} s); {result['runs']} requests per page")  # fmt: skip
    for row in result["pages"]:
        print(f"  {row['page']:<48} median {row['median_ms']:>7} ms  p95 {row['p95_ms']:>7} ms")
    print(f"  first resolve reads the group up to the entry: {result['first_resolve_take_ms']} ms")


if __name__ == "__main__":
    main()
