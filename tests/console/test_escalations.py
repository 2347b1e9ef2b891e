"""Operators resolve escalations from the console: checked replies, one response, who did it."""

from __future__ import annotations

import asyncio
import re

import orjson
from redis.asyncio import Redis

from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.keys import Keys
from shared.runtime.delivery import as_text
from shared.runtime.runrecord import load_run
from tests.audit import read_stream
from tests.console.harness import client, console, csrf_of, entry_ids
from tests.helpers import InProcessPipeline, post, stream_entries, wait_for


async def escalate(url: str, redis: Redis, keys: Keys, *event_ids: str) -> list[str]:
    """Run the real pipeline on requests for a human; the escalations' stream entry ids."""
    async with InProcessPipeline(url, keys.prefix):
        for event_id in event_ids:
            text = "I want to speak to a real person about my bill"
            await post(redis, keys, {"text": text, "event_id": event_id})

        async def escalated() -> bool:
            return bool(await redis.xlen(keys.escalations) == len(event_ids))

        await wait_for(escalated)
    return await entry_ids(redis, keys.escalations)


async def test_an_escalation_shows_its_packet_and_a_reply_with_personal_data_is_refused(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    (entry_id,) = await escalate(redis_server.url, redis, keys, "esc-web-1")
    async with console(redis_server.url, prefix) as app, client(app, "alice") as http:
        listing = await http.get("/escalations")
        assert "esc-web-1" in listing.text
        assert "human_requested" in listing.text
        page = await http.get(f"/escalations/{entry_id}")
        assert "speak to a real person" in page.text
        assert "Suggested action" in page.text
        reply = await http.post(
            f"/escalations/{entry_id}/resolve",
            data={"csrf": csrf_of(page.text), "action": "reply",
                  "reply": "Call me at +44 20 7946 0958"},
        )  # fmt: skip
        assert reply.status_code == 400
        assert "personal data" in reply.text
        assert "+44 20 7946 0958" in reply.text  # the operator's text is kept to fix
    assert await redis.xlen(keys.responses) == 0


async def test_two_operators_resolving_at_once_send_one_reply_and_the_second_is_told(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    (entry_id,) = await escalate(redis_server.url, redis, keys, "esc-web-2")
    path = f"/escalations/{entry_id}"
    async with (
        console(redis_server.url, prefix) as app,
        client(app, "alice") as alice,
        client(app, "bob") as bob,
    ):
        forms = [csrf_of((await who.get(path)).text) for who in (alice, bob)]
        replies = await asyncio.gather(
            alice.post(f"{path}/resolve", data={"csrf": forms[0], "action": "reply",
                                                "reply": "Alice will call you back today."}),
            bob.post(f"{path}/resolve", data={"csrf": forms[1], "action": "reply",
                                              "reply": "Bob will call you back today."}),
        )  # fmt: skip
        codes = sorted(r.status_code for r in replies)
        assert codes == [303, 409]
        loser = next(r for r in replies if r.status_code == 409)
        winner = "alice" if replies[0].status_code == 303 else "bob"
        assert f"Already resolved by {winner}" in loser.text
        audit = await alice.get("/audit")
        assert re.search(rf"<td>{winner}</td><td>resolve</td><td>esc-web-2</td>", audit.text)
        listing = await alice.get("/escalations?resolved=esc-web-2")
        assert "Resolved esc-web-2" in listing.text
        assert f'href="{path}"' not in listing.text  # no longer open
    (response,) = await stream_entries(redis, keys.responses)
    assert orjson.loads(response["response"])["reply"].startswith(winner.capitalize())
    run = await load_run(redis, keys, "esc-web-2")
    assert run is not None
    assert (run["status"], run["reason"]) == ("responded", "resolved_by_operator")
    assert run["steps"][-1]["decision"]["by"] == winner


async def test_approving_when_the_pipeline_drafted_nothing_says_so(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    url = redis_server.url
    async with InProcessPipeline(url, prefix, confidence_threshold=0.99):
        await post(redis, keys, {"text": "My invoice is wrong, I was charged twice",
                                 "event_id": "esc-draft"})  # fmt: skip

        async def escalated() -> bool:
            return bool(await redis.xlen(keys.escalations) == 1)

        await wait_for(escalated)
    (entry,) = await read_stream(redis, keys.escalations)
    assert orjson.loads(entry["packet"]).get("draft") is None  # escalated before the responder
    entry_id = as_text(entry["_id"])
    async with console(url, prefix) as app, client(app, "alice") as http:
        page = await http.get(f"/escalations/{entry_id}")
        assert "Approve the draft" not in page.text
        reply = await http.post(f"/escalations/{entry_id}/resolve",
                                data={"csrf": csrf_of(page.text), "action": "approve"})  # fmt: skip
        assert reply.status_code == 400
        assert "no drafted reply" in reply.text
    assert await redis.xlen(keys.responses) == 0
