"""A different topology (tests/fixtures/arithmetic: reader -> adder -> reviewer) runs through the
same runtime and the same generic validator on a real Redis, each service logged in as the Redis
user derived from that pipeline's declaration: the spec is what drives them, not a facade."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from services.validator.settings import ValidatorSettings
from shared.ops.acl import AclPlan, plan
from shared.pipeline import VALIDATOR
from shared.pipeline.keys import Keys
from shared.pipeline.settings import BatonSettings
from shared.runtime.redis_client import connect
from shared.service import serve
from tests.fixtures.arithmetic.pipeline import ARITHMETIC, factories
from tests.helpers import FAST, stream_entries, wait_for
from tests.integration.test_acl import ADMIN, AclRedis, server_version


@pytest.fixture
async def server(tmp_path: Path, prefix: str) -> AsyncIterator[tuple[AclRedis, AclPlan, Redis]]:
    acl_plan = plan(ARITHMETIC, prefix, redis_version=server_version())
    admin_password = secrets.token_hex(16)
    redis_server = AclRedis(tmp_path / "redis", acl_plan.acl_file(), admin_password)
    redis_server.start()
    admin = connect(redis_server.url, username=ADMIN, password=admin_password)
    try:
        yield redis_server, acl_plan, admin
    finally:
        await admin.aclose()
        redis_server.stop()


def settings_of(service: str, url: str, acl_plan: AclPlan) -> BatonSettings:
    cls = ValidatorSettings if service == VALIDATOR else BatonSettings
    values: dict[str, Any] = {
        **FAST, "redis_url": url, "prefix": acl_plan.prefix, "llm": "offline",
        "redis_username": service, "redis_password": SecretStr(acl_plan.passwords[service]),
    }  # fmt: skip
    return cls(**values)


async def test_a_fixture_pipeline_runs_through_the_same_runtime_and_validator(
    server: tuple[AclRedis, AclPlan, Redis],
) -> None:
    redis_server, acl_plan, admin = server
    keys = Keys(acl_plan.prefix)
    assert {u.name for u in acl_plan.users if u.service} == {
        "reader", "adder", "reviewer", "validator",
    }  # fmt: skip
    stop = asyncio.Event()
    builds = factories()
    tasks = [
        asyncio.create_task(serve(builds[s], settings_of(s, redis_server.url, acl_plan), stop))
        for s in ARITHMETIC.services
    ]
    producer = connect(
        redis_server.url, username="producer", password=acl_plan.passwords["producer"]
    )
    requests = {
        "sum-ok": "add 2 and 3 and 4",
        "sum-13": "what is 13 plus 1",
        "no-numbers": "hello there",
        "too-many": "1 2 3 4 5 6 7 8 9 10 11",
    }
    try:
        for event_id, text in requests.items():
            body = orjson.dumps({"text": text, "event_id": event_id})
            await producer.xadd(keys.stream(ARITHMETIC.entry_stream), {"payload": body})

        async def all_ended() -> bool:
            ended = [await admin.xlen(keys.stream(n)) for n in ("responses", "escalations", "dlq")]
            return sum(ended) == len(requests)

        await wait_for(all_ended, timeout=60)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
        await producer.aclose()

    (response,) = await stream_entries(admin, keys.responses)
    assert response["event_id"] == b"sum-ok"
    assert orjson.loads(response["response"]) == {
        "event_id": "sum-ok", "total": 9, "reply": "The total is 9.",
    }  # fmt: skip
    escalated = {e["event_id"]: e["reason"] for e in await stream_entries(admin, keys.escalations)}
    # The reader's output kept failing its domain check: after the clarifications, a human.
    assert escalated == {
        b"sum-13": b"wrong_total",
        b"no-numbers": b"no_numbers",
        b"too-many": b"invalid_agent_output",
    }
    assert await admin.xlen(keys.dlq) == 0
    (packet,) = [
        orjson.loads(e["packet"])
        for e in await stream_entries(admin, keys.escalations)
        if e["event_id"] == b"too-many"
    ]
    assert "numbers: at most 10" in packet["detail"]
    # Its own streams and groups, and nothing of the reference pipeline's.
    for service in ARITHMETIC.services:
        stream = keys.stream(ARITHMETIC.input_stream(service))
        groups = await admin.xinfo_groups(stream)
        assert [(g["name"], g["pending"]) for g in groups] == [(service.encode(), 0)]
    for other in ("intake", "triage", "responder"):
        assert not await admin.exists(keys.stream(other))
    steps = [orjson.loads(s) for s in await admin.lrange(keys.run_steps("sum-ok"), 0, -1)]
    assert [s["stage"] for s in steps] == [
        "reader", "validator", "adder", "validator", "reviewer", "validator",
    ]  # fmt: skip
