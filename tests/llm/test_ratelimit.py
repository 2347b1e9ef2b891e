"""The global rate limit in Redis: reservations, settling with real usage, and sharing across
processes. Uses the throwaway Redis of ``tests/conftest.py``, never the shared one."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest
from redis.asyncio import Redis

from shared.agents.llm import LLMRequest
from shared.agents.llm.ratelimit import Limit, RateLimiter, rate_keys
from shared.errors import RetryableError
from shared.ops.embedded import EmbeddedRedis
from tests.fakes.behaviours import Behaviour
from tests.fakes.openai_server import FakeOpenAI
from tests.llm.conftest import MakeClient
from tests.llm.test_openai_provider import TRIAGE, triage_request

ROOT = Path(__file__).resolve().parents[2]


def limiter(redis: Redis, prefix: str, **kw: object) -> RateLimiter:
    values: dict[str, object] = {"default": Limit(rpm=2), "max_wait_s": 0.05,
                                 "window_s": 1.0, "bucket_s": 0.1, **kw}  # fmt: skip
    return RateLimiter(redis, prefix, **values)  # type: ignore[arg-type]


async def test_requests_per_window(redis: Redis, prefix: str) -> None:
    fast = limiter(redis, prefix)
    assert await fast.acquire("m", 0) is not None
    assert await fast.acquire("m", 0) is not None
    with pytest.raises(RetryableError) as caught:
        await fast.acquire("m", 0)
    assert caught.value.reason == "rate_limited"
    patient = limiter(redis, prefix, max_wait_s=10)
    started = time.monotonic()
    assert await patient.acquire("m", 0) is not None
    assert time.monotonic() - started >= 0.5  # the window had to slide (>= window - 1 bucket)
    assert await fast.acquire("other-model", 0) is not None, "limits are per model"
    req_key, _ = rate_keys(prefix, "m")
    assert 0 < await redis.pttl(req_key) <= 1100


async def test_tokens_are_settled_with_actual_usage(redis: Redis, prefix: str) -> None:
    tokens = limiter(redis, prefix, default=Limit(tpm=1000))
    first = await tokens.acquire("m", 800)
    with pytest.raises(RetryableError):
        await tokens.acquire("m", 300)
    await tokens.settle(first, 100)
    assert await tokens.acquire("m", 300) is not None
    huge = limiter(redis, prefix + "x", default=Limit(tpm=1000))
    clamped = await huge.acquire("m", 50_000)
    assert clamped is not None
    assert clamped.tokens == 1000, "a reservation above the whole limit is clamped to it"


async def test_unlimited_model_reserves_nothing(redis: Redis, prefix: str) -> None:
    free = limiter(redis, prefix, default=Limit(), per_model={"paid": Limit(rpm=1)})
    assert await free.acquire("m", 10) is None
    await free.settle(None, 10)
    assert await free.acquire("paid", 10) is not None
    with pytest.raises(RetryableError):
        await free.acquire("paid", 10)


async def test_client_settles_estimates_with_reported_usage(
    fake: FakeOpenAI, make_client: MakeClient, redis: Redis, prefix: str
) -> None:
    # Each call reserves ~520 tokens (prompt estimate + max_tokens 512) of a 1000/min budget:
    # only settling with the reported 15 tokens lets three calls through within the minute.
    client = make_client(redis, prefix=prefix, llm_tpm=1000, llm_max_wait_s=0.2)
    fake.set_defaults(Behaviour.reply(TRIAGE, usage={"prompt_tokens": 10, "completion_tokens": 5}))
    for _ in range(3):
        await client.generate(triage_request())
    fake.script(Behaviour.reply(TRIAGE, usage={"prompt_tokens": 900, "completion_tokens": 60}))
    await client.generate(triage_request())
    with pytest.raises(RetryableError) as caught:
        await client.generate(triage_request())
    assert caught.value.reason == "rate_limited"
    assert len(fake.requests) == 4


async def test_per_model_limit_from_settings(
    fake: FakeOpenAI, make_client: MakeClient, redis: Redis, prefix: str
) -> None:
    limits = {"tiny": {"rpm": 1}}
    client = make_client(redis, prefix=prefix, llm_limits=limits, llm_max_wait_s=0.2)
    fake.set_defaults(Behaviour.reply(TRIAGE))
    request = triage_request()
    tiny = LLMRequest(**{**request.__dict__, "model": "tiny"})
    await client.generate(tiny)
    with pytest.raises(RetryableError, match="rate limit"):
        await client.generate(tiny)
    for _ in range(3):
        await client.generate(request)  # the default model stays unlimited


async def test_rate_limit_is_shared_by_two_processes(
    fake: FakeOpenAI, redis_server: EmbeddedRedis, prefix: str
) -> None:
    """Two OS processes, 4 concurrent calls each, 3 requests per 3 s window between them."""
    fake.set_defaults(Behaviour.reply(TRIAGE))
    limit, window, bucket = 3, 3.0, 0.1
    start_at = time.time() + 2.0
    args = ["--redis", redis_server.url, "--prefix", prefix, "--base-url", fake.base_url,
            "--calls", "4", "--limit", str(limit), "--window", str(window),
            "--bucket", str(bucket), "--start-at", str(start_at)]  # fmt: skip
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.llm.rate_worker",
            *args,
            "--tag",
            tag,
            cwd=ROOT,
            stdout=PIPE,
            stderr=PIPE,
        )
        for tag in ("A", "B")
    ]
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode == 0, err.decode()
        assert json.loads(out.decode().strip().splitlines()[-1])["ok"] == 4, out

    arrivals = sorted(r.arrived_mono for r in fake.requests)
    tags = sorted(r.message("user")[0] for r in fake.requests)
    assert tags == ["A"] * 4 + ["B"] * 4
    # Any 4 reservations span at least one window less one bucket (2.9 s); arrivals lag their
    # reservations by the request latency, allowed up to 0.9 s here. Per-process limits would let
    # 6 requests arrive at once.
    gaps = [arrivals[i + limit] - arrivals[i] for i in range(len(arrivals) - limit)]
    print(f"gaps between request n and n+{limit}: {[round(g, 3) for g in gaps]}")
    assert min(gaps) >= window - bucket - 0.9
