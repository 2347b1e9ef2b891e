"""Pages follow stream-id cursors, skip resolved entries cheaply and read a bounded window."""

from __future__ import annotations

import re

from redis.asyncio import Redis

from shared.ops.console import paging
from shared.ops.embedded import EmbeddedRedis
from shared.ops.inbox import GROUP, InboxEntry
from shared.pipeline.keys import Keys
from tests.console.harness import client, console

ROW = re.compile(r'href="/dlq/(\d+-\d+)"')


async def fill(redis: Redis, stream: str, count: int, reason: str = "llm_error") -> list[str]:
    async with redis.pipeline(transaction=False) as pipe:
        for n in range(count):
            pipe.xadd(stream, {"event_id": f"e-{n}", "reason": reason, "stage": "triage"})
        return [eid.decode() for eid in await pipe.execute()]


async def test_pages_of_open_entries_cover_each_once_and_skip_resolved_ones(
    redis: Redis, prefix: str
) -> None:
    stream = Keys(prefix).dlq
    ids = await fill(redis, stream, 1200)
    await redis.xgroup_create(stream, GROUP, id="0")
    await redis.xreadgroup(GROUP, "cli", {stream: ">"}, count=900)
    await redis.xack(stream, GROUP, *ids[100:700])  # resolved: 600 in the middle
    seen: list[str] = []
    after = None
    while True:
        found = await paging.page(redis, stream, paging.Bounds(after=after), size=250,
                                  budget=10_000, open_only=True)  # fmt: skip
        seen += [e.entry_id for e in found.entries]
        if found.after is None:
            break
        after = found.after
    assert seen == ids[:100] + ids[700:]  # oldest first, pending then unread, each once
    assert await paging.open_count(redis, stream) == 600


async def test_a_filtered_page_stops_after_its_budget_and_continues_from_its_cursor(
    redis: Redis, prefix: str
) -> None:
    stream = Keys(prefix).dlq
    await fill(redis, stream, 300)
    wanted = await fill(redis, stream, 3, reason="budget_exceeded")
    bounds = paging.Bounds()

    def keep(entry: InboxEntry) -> bool:
        return entry.reason == "budget_exceeded"

    first = await paging.page(redis, stream, bounds, size=10, budget=100, open_only=True,
                              keep=keep)  # fmt: skip
    assert (first.entries, first.scanned) == ([], 100)
    assert first.after is not None
    found: list[str] = []
    after: str | None = first.after
    while after is not None:
        more = await paging.page(redis, stream, paging.Bounds(after=after), size=10, budget=100,
                                 open_only=True, keep=keep)  # fmt: skip
        found += [e.entry_id for e in more.entries]
        after = more.after
    assert found == wanted


async def test_the_console_pages_dead_letters_with_a_next_link(
    redis_server: EmbeddedRedis, prefix: str
) -> None:
    from shared.runtime.redis_client import connect

    writer = connect(redis_server.url)
    ids = await fill(writer, Keys(prefix).dlq, 120)
    await writer.aclose()
    async with console(redis_server.url, prefix, page_size=50) as app, client(app, "vera") as http:
        shown: list[str] = []
        path: str | None = "/dlq"
        while path:
            html = (await http.get(path)).text
            shown += ROW.findall(html)
            found = re.search(r'rel="next" href="([^"]+)"', html)
            path = found.group(1).replace("&amp;", "&") if found else None
        assert shown == ids
        assert "120 open" in html
        bad = await http.get("/dlq?after=not-an-id")
        assert (bad.status_code, "not a page cursor" in bad.text) == (400, True)
