"""Dead letters from the console: the raw entry, an edit re-validated, exactly-once replays."""

from __future__ import annotations

import html
import re

from redis.asyncio import Redis

from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.keys import Keys
from shared.runtime.runrecord import load_run
from tests.audit import read_stream
from tests.console.harness import client, console, csrf_of, entry_ids
from tests.helpers import InProcessPipeline, broken_triage, post, stream_entries, wait_for

FIXED = '{"text": "My invoice is wrong", "customer_id": "c-7", "channel": "email"}'


async def dead_letters(url: str, redis: Redis, keys: Keys, count: int) -> list[str]:
    async def dead() -> bool:
        return bool(await redis.xlen(keys.dlq) == count)

    await wait_for(dead)
    return await entry_ids(redis, keys.dlq)


async def test_an_edited_payload_is_checked_then_replayed_once(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys, url = Keys(prefix), redis_server.url
    async with InProcessPipeline(url, prefix):
        await post(redis, keys, b'{"text": "cut off')
        (entry_id,) = await dead_letters(url, redis, keys, 1)
        async with console(url, prefix) as app, client(app, "alice") as http:
            page = await http.get(f"/dlq/{entry_id}")
            assert page.status_code == 200
            assert "parse_error" in page.text
            assert "{&#34;text&#34;: &#34;cut off" in page.text  # the raw bytes, as text
            csrf = csrf_of(page.text)
            action = f"/dlq/{entry_id}/replay"
            bad = await http.post(action, data={"csrf": csrf, "text": '{"text": 1}',
                                                "dry_run": "0"})  # fmt: skip
            assert bad.status_code == 400
            assert "still invalid, nothing was replayed" in bad.text
            preview = await http.post(action, data={"csrf": csrf, "text": FIXED, "dry_run": "1"})
            assert "Valid: a replay would publish" in preview.text
            assert await redis.xlen(keys.stream("intake")) == 1  # a preview publishes nothing
            done = await http.post(action, data={"csrf": csrf, "text": FIXED, "dry_run": "0"})
            assert done.status_code == 303
            again = await http.post(action, data={"csrf": csrf, "text": FIXED, "dry_run": "0"})
            assert "already replayed or resolved" in again.text

            async def answered() -> bool:
                return bool(await redis.xlen(keys.responses) == 1)

            await wait_for(answered)
            audit = await http.get("/audit")
            assert re.search(r"<td>alice</td><td>edit\+replay</td>", audit.text)
    assert len(await stream_entries(redis, keys.responses)) == 1


async def test_a_selection_is_previewed_replayed_and_purged_with_confirmation(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys, url = Keys(prefix), redis_server.url
    async with InProcessPipeline(url, prefix, stages={"triage": broken_triage}):
        for i in range(3):
            await post(redis, keys, {"text": f"Charged twice, invoice {i}", "event_id": f"d-{i}"})
        ids = await dead_letters(url, redis, keys, 3)
    async with console(url, prefix) as app, client(app, "alice") as http:
        listing = await http.get("/dlq?reason=llm_error")
        assert listing.text.count('name="ids"') == 3
        csrf = csrf_of(listing.text)
        preview = await http.post("/dlq/replay", data={"csrf": csrf, "scope": "filter",
                                                       "reason": "llm_error"})  # fmt: skip
        assert preview.text.count("<td>would</td>") == 3
        assert await redis.xlen(keys.stream("triage")) == 3  # as before: a preview publishes none
        async with InProcessPipeline(url, prefix):  # the fixed deploy
            chosen = {"csrf": csrf, "ids": ids[:2], "dry_run": "0"}
            replayed = await http.post("/dlq/replay", data=chosen)
            assert replayed.text.count("<td>replayed</td>") == 2

            async def answered() -> bool:
                return bool(await redis.xlen(keys.responses) == 2)

            await wait_for(answered)
        ask = await http.post("/dlq/purge", data={"csrf": csrf, "ids": ids[2]})
        assert "Delete these for good" in ask.text
        assert await redis.xlen(keys.dlq) == 3  # nothing deleted before the confirmation
        gone = await http.post("/dlq/purge", data={"csrf": csrf, "ids": ids[2], "confirm": "yes"})
        assert gone.status_code == 303
        assert await redis.xlen(keys.dlq) == 2
        assert "purged 1" in (await http.get(gone.headers["location"])).text
        resolved = await http.get("/dlq?all=1")
        assert resolved.text.count('class="resolved"') == 2
    events = sorted(e["event_id"] for e in await stream_entries(redis, keys.responses))
    assert events == [b"d-0", b"d-1"]


async def test_an_envelope_dead_letter_is_edited_at_its_stage_input_and_replayed(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys, url = Keys(prefix), redis_server.url
    async with InProcessPipeline(url, prefix, stages={"triage": broken_triage}):
        await post(redis, keys, {"text": "Charged twice for invoice 12", "event_id": "env-1"})
        (entry_id,) = await dead_letters(url, redis, keys, 1)
    async with console(url, prefix) as app, client(app, "alice") as http:
        page = await http.get(f"/dlq/{entry_id}")
        assert "The payload to replay" in page.text  # triage's input, from the envelope
        assert "Charged twice for invoice 12" in page.text
        edited = page.text.split('spellcheck="false">')[1].split("</textarea>")[0]
        edited = html.unescape(edited).replace("invoice 12", "invoice 12 (edited)")
        action = f"/dlq/{entry_id}/replay"
        async with InProcessPipeline(url, prefix):  # the fixed deploy
            done = await http.post(
                action, data={"csrf": csrf_of(page.text), "text": edited, "dry_run": "0"}
            )
            assert done.status_code == 303

            async def answered() -> bool:
                return bool(await redis.xlen(keys.responses) == 1)

            await wait_for(answered)
    run = await load_run(redis, keys, "env-1")
    assert run is not None
    triage_steps = [s for s in run["steps"] if s["stage"] == "triage"]
    assert [s["outcome"] for s in triage_steps] == ["dead_lettered", "ok"]
    replayed = (await read_stream(redis, keys.stream("triage")))[-1]
    assert b"invoice 12 (edited)" in replayed["envelope"]  # the edit is what was replayed
