"""Hostile event text renders as text on every page, never as markup or script."""

from __future__ import annotations

from pathlib import Path

from markupsafe import escape
from redis.asyncio import Redis

from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.keys import Keys
from tests.console.harness import client, console, entry_ids
from tests.helpers import InProcessPipeline, post, wait_for

CORPUS = Path(__file__).parents[1] / "fixtures" / "hostile-markup.txt"
MARKUP = set("<>\"'&")


def hostile_lines() -> list[str]:
    lines = CORPUS.read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


async def test_the_corpus_of_hostile_inputs_renders_as_text_everywhere(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys, url = Keys(prefix), redis_server.url
    lines = hostile_lines()
    async with InProcessPipeline(url, prefix):
        for n, line in enumerate(lines):
            text = f"I want to speak to a real person. {line}"
            await post(redis, keys, {"text": text, "event_id": f"h-{n}"})
            await post(redis, keys, line.encode())  # not JSON: a dead letter with these bytes

        async def ended() -> bool:
            total = sum([await redis.xlen(keys.stream(s)) for s in ("responses", "escalations")])
            return bool(total == len(lines) and await redis.xlen(keys.dlq) == len(lines))

        await wait_for(ended)
    pages = ["/escalations", "/dlq", "/audit", "/live"]
    pages += [f"/escalations/{i}" for i in await entry_ids(redis, keys.escalations)]
    pages += [f"/dlq/{i}" for i in await entry_ids(redis, keys.dlq)]
    pages += [f"/runs/h-{n}" for n in range(len(lines))]
    async with console(url, prefix) as app, client(app, "alice") as http:
        shown = ""
        for page in pages:
            reply = await http.get(page)
            assert reply.status_code == 200, page
            for line in lines:
                if MARKUP & set(line):
                    assert line not in reply.text, f"{page} rendered as markup: {line}"
            shown += reply.text
    for line in lines:
        assert str(escape(line)) in shown, f"never shown as text: {line}"
