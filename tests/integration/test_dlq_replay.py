"""Dead letters are listed, replayed at the failed stage exactly once, and purged."""

from __future__ import annotations

import asyncio
import sys

import orjson
from redis.asyncio import Redis

from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.keys import Keys
from tests.fakes.otlp_receiver import OtlpReceiver
from tests.fault.processes import REPO_ROOT, worker_env
from tests.helpers import InProcessPipeline, broken_triage, post, stream_entries, wait_for
from tests.integration.test_escalations_cli import baton


async def test_replay_after_a_fix_answers_each_dead_letter_once(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys, url = Keys(prefix), redis_server.url
    async with InProcessPipeline(url, prefix, stages={"triage": broken_triage}):
        for i in range(3):
            body = {"text": f"I was charged twice, invoice {i}", "event_id": f"r-{i}"}
            await post(redis, keys, body)
        await post(redis, keys, b'{"text": "cut off')

        async def dead() -> bool:
            return await redis.xlen(keys.dlq) == 4

        await wait_for(dead)
    code, out = await baton(url, prefix, "dlq", "list", "--json")
    listing = orjson.loads(out)
    assert code == 0
    assert listing["counts"] == {"llm_error": 3, "parse_error": 1}

    code, out = await baton(url, prefix, "dlq", "replay", "--reason", "llm_error", "--dry-run")
    assert (code, out.count(b"would")) == (0, 3)
    assert await redis.xlen(keys.stream("triage")) == 3  # a dry run publishes nothing

    async with InProcessPipeline(url, prefix):  # the fixed deploy
        code, out = await baton(url, prefix, "dlq", "replay", "--reason", "llm_error")
        assert (code, out.count(b"replayed")) == (0, 3)
        code, out = await baton(url, prefix, "dlq", "replay", "--all")
        assert (code, out.count(b"replayed"), out.count(b"invalid")) == (1, 0, 1)

        async def answered() -> bool:
            return await redis.xlen(keys.responses) == 3

        await wait_for(answered)
    responses = [e["event_id"] for e in await stream_entries(redis, keys.responses)]
    assert sorted(responses) == [b"r-0", b"r-1", b"r-2"]
    code, out = await baton(url, prefix, "dlq", "list", "--json")
    assert orjson.loads(out)["counts"] == {"parse_error": 1}  # still invalid, still open
    code, _ = await baton(url, prefix, "dlq", "purge", "--resolved", "--yes")
    assert code == 0
    assert await redis.xlen(keys.dlq) == 1


async def test_too_large_payloads_are_reported_by_post_wait_and_replayed_under_their_own_ids(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys, url = Keys(prefix), redis_server.url

    def padded(body: dict[str, str]) -> bytes:  # valid JSON, over 64 KiB of insignificant blanks
        return b"{" + b" " * 70_000 + orjson.dumps(body)[1:]

    named = padded({"text": "My invoice is wrong", "channel": "email", "event_id": "big-1"})
    async with InProcessPipeline(url, prefix):
        # post --wait names the producer's event and says where it ended, before any timeout.
        (path := redis_server.data_dir / "big.jsonl").write_bytes(named + b"\n")
        code, out = await baton(url, prefix, "post", "--file", str(path), "--wait",
                                "--timeout", "60")  # fmt: skip
        assert code == 0, out
        assert b"big-1  dead_lettered too_large" in out
        unnamed_entry = await post(redis, keys, padded({"text": "Where is my parcel?"}))

        async def both_dead() -> bool:
            return await redis.xlen(keys.dlq) == 2

        await wait_for(both_dead)
    dead = [e["event_id"] for e in await stream_entries(redis, keys.dlq)]
    assert dead == [b"big-1", f"evt-{unnamed_entry}".encode()]

    bigger = {"BATON_MAX_PAYLOAD_BYTES": "262144"}
    async with InProcessPipeline(url, prefix, max_payload_bytes=262_144):
        code, out = await baton(url, prefix, "dlq", "replay", "--all", env=bigger)
        assert (code, out.count(b"replayed")) == (0, 2), out

        async def answered() -> bool:
            return await redis.xlen(keys.responses) + await redis.xlen(keys.escalations) == 2

        await wait_for(answered)
    ended = [
        e["event_id"]
        for name in ("responses", "escalations")
        for e in await stream_entries(redis, keys.stream(name))
    ]
    assert sorted(ended) == sorted(dead)
    for event_id in dead:  # the dead-lettered run record was finished, not left in progress
        status = await redis.hget(keys.run(event_id.decode()), "status")
        assert status in (b"responded", b"escalated"), (event_id, status)


async def test_a_dead_letter_is_found_by_the_entry_id_its_producer_got_back(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys, url = Keys(prefix), redis_server.url
    async with InProcessPipeline(url, prefix):
        posted = await post(redis, keys, b'{"text": "cut off')

        async def dead() -> bool:
            return await redis.xlen(keys.dlq) == 1

        await wait_for(dead)
    code, out = await baton(url, prefix, "dlq", "show", posted)
    assert code == 0, out
    shown = orjson.loads(out)
    assert shown["entry_id"] != posted  # shown: the dead letter, found by the input
    for ident in (shown["entry_id"], shown["event_id"]):  # and by its own id, and the event's
        code, again = await baton(url, prefix, "dlq", "show", ident)
        assert code == 0, again
        assert orjson.loads(again)["entry_id"] == shown["entry_id"]
    code, out = await baton(url, prefix, "dlq", "show", "1-1")
    assert (code, b"no dead letter '1-1'" in out) == (1, True)


async def test_tail_of_an_unknown_stream_is_a_usage_error(
    redis_server: EmbeddedRedis, prefix: str
) -> None:
    code, out = await baton(redis_server.url, prefix, "tail", "nosuchstream")
    assert code == 2
    assert b"unknown stream 'nosuchstream'" in out
    code, _ = await baton(redis_server.url, prefix, "tail", f"{prefix}:responses", "-n", "1")
    assert code == 0


async def test_a_replayed_dead_letter_starts_a_new_trace_linked_to_the_failed_one(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys, url = Keys(prefix), redis_server.url
    async with InProcessPipeline(url, prefix, stages={"triage": broken_triage}):
        await post(redis, keys, {"text": "I was charged twice", "event_id": "traced-1"})

        async def dead() -> bool:
            return await redis.xlen(keys.dlq) == 1

        await wait_for(dead)
    (dead_letter,) = await stream_entries(redis, keys.dlq)
    failed_trace = dead_letter["traceparent"].decode().split("-")[1]
    with OtlpReceiver() as receiver:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shared.ops.cli.app", "dlq", "replay", "--all", cwd=REPO_ROOT,
            env=worker_env(url, prefix, {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}),
            stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert await process.wait() == 0
        (span,) = [s for s in receiver.snapshot() if s.name.startswith("replay ")]
    assert span.name == f"replay {keys.stream('triage')}"
    assert span.trace_id != failed_trace
    assert [trace_id for trace_id, _ in span.links] == [failed_trace]
    republished = (await stream_entries(redis, keys.stream("triage")))[-1]
    assert republished["traceparent"].decode().split("-")[1] == span.trace_id
