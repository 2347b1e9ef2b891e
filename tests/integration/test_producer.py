"""The producer API (shared.pipeline.producer) and ``baton post --file`` built on it: batches in
one round
trip each, events named as intake names them, outcomes found, and a resume point after a failure."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from shared.errors import ContractError
from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.keys import Keys
from shared.pipeline.producer import AsyncProducer, Posted, PostError, Producer
from shared.runtime.redis_client import connect
from tests.fault.processes import REPO_ROOT, worker_env
from tests.helpers import InProcessPipeline, wait_for


async def exec_calls(redis: Redis) -> int:
    stats: dict[str, Any] = await redis.info("commandstats")
    return int(stats.get("cmdstat_exec", {}).get("calls", 0))


async def test_post_many_sends_each_batch_as_one_transaction_and_names_events_as_intake_will(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    requests: list[Any] = []
    for n in range(1_200):
        if n % 3 == 0:
            requests.append({"text": f"request {n}", "event_id": f"p-{n}"})
        elif n % 3 == 1:
            requests.append({"text": f"request {n}"})
        else:
            requests.append(b'{"event_id": "raw-%d", "text": NaN}' % n)  # dead-lettered later
    before = await exec_calls(redis)
    batches: list[int] = []
    async with AsyncProducer(connect(redis_server.url), prefix=prefix) as producer:
        posted = await producer.post_many(
            requests, batch=500, on_batch=lambda b: batches.append(len(b))
        )
    assert batches == [500, 500, 200]
    assert await exec_calls(redis) - before == 3
    assert await redis.xlen(keys.stream("intake")) == 1_200
    assert posted[0].event_id == "p-0"
    assert posted[1].event_id == f"evt-{posted[1].entry_id}"
    assert posted[2].event_id == "raw-2"  # read from the unparseable payload, as intake will


async def test_a_request_given_as_data_that_breaks_the_contract_is_refused_before_sending(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    async with AsyncProducer(connect(redis_server.url), prefix=prefix) as producer:
        with pytest.raises(ContractError, match="text"):
            await producer.post_many([{"text": "fine"}, {"text": ""}])
    assert await redis.xlen(Keys(prefix).stream("intake")) == 0


async def test_wait_finds_where_each_event_ended_even_behind_a_long_terminal_stream(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    async with redis.pipeline(transaction=False) as pipe:  # older replies of other events
        for n in range(12_000):
            pipe.xadd(keys.responses, {"event_id": f"old-{n}", "response": "{}"})
        await pipe.execute()
    async with (
        InProcessPipeline(redis_server.url, prefix),
        AsyncProducer(connect(redis_server.url), prefix=prefix) as producer,
    ):
        answered = await producer.post({"text": "My invoice is wrong", "event_id": "w-1"})
        escalated = await producer.post({"text": "I want to talk to a human", "event_id": "w-2"})
        dead = await producer.post(b'{"event_id": "w-3", "text": ')
        outcomes = [await producer.wait(p, timeout=30) for p in (answered, escalated, dead)]
        async with redis.pipeline(transaction=False) as pipe:  # newer replies of other events
            for n in range(12_000):
                pipe.xadd(keys.responses, {"event_id": f"new-{n}", "response": "{}"})
            await pipe.execute()
        again = await producer.post({"text": "My invoice is wrong", "event_id": "w-1"})
        duplicate = await producer.wait(again, timeout=30)
    assert [(o.event_id, o.status) for o in outcomes] == [
        ("w-1", "responded"), ("w-2", "escalated"), ("w-3", "dead_lettered"),
    ]  # fmt: skip
    assert outcomes[0].entry is not None
    assert outcomes[0].entry["response"]["event_id"] == "w-1"
    assert (outcomes[1].reason, outcomes[2].reason) == ("human_requested", "parse_error")
    assert duplicate == outcomes[0]  # the first outcome, found again


def test_the_sync_producer_posts_and_waits_without_an_event_loop(
    redis_server: EmbeddedRedis, prefix: str
) -> None:
    with Producer.connect(redis_server.url, prefix=prefix) as producer:
        posted = producer.post_many([{"text": "a", "event_id": "s-1"}, {"text": "b"}])
        timeout = producer.wait(posted[0], timeout=0.2)  # nothing runs the pipeline here
    assert [p.event_id for p in posted] == ["s-1", f"evt-{posted[1].entry_id}"]
    assert (timeout.status, timeout.ended) == ("timeout", False)


async def test_post_error_says_how_many_were_posted(
    fresh_redis: EmbeddedRedis, prefix: str
) -> None:
    done: list[list[Posted]] = []

    def crash_after_two(batch: list[Posted]) -> None:
        done.append(batch)
        if len(done) == 2:
            fresh_redis.kill()

    producer = AsyncProducer(connect(fresh_redis.url), prefix=prefix)
    with pytest.raises(PostError) as failed:
        await producer.post_many(({"text": f"r{n}"} for n in range(50)), batch=10,
                                 on_batch=crash_after_two)  # fmt: skip
    assert failed.value.posted == 20
    await producer.redis.aclose()


async def baton_post(url: str, prefix: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.ops.cli.app", "post", *args, cwd=REPO_ROOT,
        env=worker_env(url, prefix), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_post_file_that_loses_redis_names_the_line_to_resume_from_and_resumes(
    fresh_redis: EmbeddedRedis, prefix: str, tmp_path: Path
) -> None:
    keys = Keys(prefix)
    lines = [orjson.dumps({"text": f"request {n}", "event_id": f"f-{n}"}) for n in range(60_000)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    ids = tmp_path / "ids.tsv"
    client = connect(fresh_redis.url)
    process = await baton_post(fresh_redis.url, prefix, "--file", str(path), "--ids-out", str(ids))

    async def under_way() -> bool:
        return bool(await client.exists(keys.stream("intake")))

    await wait_for(under_way, timeout=60, interval=0.01)
    fresh_redis.kill()
    out, err = await process.communicate()
    assert process.returncode == 1, (out, err)
    message = err.decode()
    assert "Resume with: baton post --file ... --from-line " in message, message
    resume = int(message.rsplit("--from-line ", 1)[1].split()[0])
    fresh_redis.start()
    await client.aclose()
    client = connect(fresh_redis.url)
    try:
        # Whole batches only; the one in flight when Redis died may be in, its reply lost.
        assert await client.xlen(keys.stream("intake")) in (resume - 1, resume - 1 + 500)
        written = ids.read_text().splitlines()
        assert [int(row.split("\t")[0]) for row in written] == list(range(1, resume))
        process = await baton_post(fresh_redis.url, prefix, "--file", str(path), "--from-line",
                                   str(resume))  # fmt: skip
        out, err = await process.communicate()
        assert process.returncode == 0, err
        assert out.decode().split() == [f"f-{n}" for n in range(resume - 1, 60_000)]
        posted = set()
        for _, fields in await client.xrange(keys.stream("intake")) or []:
            assert fields is not None
            posted.add(orjson.loads(fields[b"payload"])["event_id"])
        assert posted == {f"f-{n}" for n in range(60_000)}
    finally:
        await client.aclose()
