"""Operators resolve escalations from the CLI; a resolution publishes exactly one response."""

from __future__ import annotations

import asyncio
import sys

import orjson
from redis.asyncio import Redis

from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.keys import Keys
from shared.runtime.runrecord import load_run
from tests.fault.processes import REPO_ROOT, worker_env
from tests.helpers import InProcessPipeline, post, stream_entries, wait_for


async def baton(
    url: str, prefix: str, *args: str, env: dict[str, str] | None = None
) -> tuple[int, bytes]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.ops.cli.app", *args, cwd=REPO_ROOT,
        env=worker_env(url, prefix, env), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout + stderr


async def test_resolving_an_escalation_publishes_one_validated_response(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    async with InProcessPipeline(redis_server.url, prefix):
        await post(redis, keys, {"text": "I want to speak to a real person about my bill",
                                 "event_id": "esc-1"})  # fmt: skip

        async def escalated() -> bool:
            return await redis.xlen(keys.escalations) == 1

        await wait_for(escalated)
    url = redis_server.url
    code, out = await baton(url, prefix, "escalations", "list", "--json")
    assert code == 0
    (listed,) = orjson.loads(out)
    assert (listed["event_id"], listed["reason"]) == ("esc-1", "human_requested")

    code, out = await baton(url, prefix, "escalations", "resolve", "esc-1",
                            "--reply", "Call me at +44 20 7946 0958")  # fmt: skip
    assert code == 1
    assert b"personal data" in out

    code, _ = await baton(url, prefix, "escalations", "resolve", "esc-1",
                          "--reply", "A colleague will call you today.")  # fmt: skip
    assert code == 0
    code, out = await baton(url, prefix, "escalations", "resolve", "esc-1", "--reply", "again")
    assert code == 1  # no longer open

    (response,) = await stream_entries(redis, keys.responses)
    assert orjson.loads(response["response"])["reply"] == "A colleague will call you today."
    run = await load_run(redis, keys, "esc-1")
    assert run is not None
    assert (run["status"], run["reason"]) == ("responded", "resolved_by_operator")
    code, out = await baton(url, prefix, "escalations", "list", "--json")
    assert orjson.loads(out) == []
