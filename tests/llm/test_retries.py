"""Our retry layer (the SDK's is off): backoff, Retry-After, timeouts, exhausted attempts.

No assertion bounds how fast anything is; the only timing assertions are lower bounds the
behaviour demands (a Retry-After, a timeout).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from email.utils import formatdate

import pytest

from shared.errors import RetryableError
from tests.fakes.behaviours import Behaviour
from tests.fakes.openai_server import FakeOpenAI
from tests.llm.conftest import MakeClient
from tests.llm.test_openai_provider import TRIAGE, triage_request


async def test_429_retry_after_is_honoured(
    fake: FakeOpenAI, make_client: MakeClient, record_property: Callable[[str, object], None]
) -> None:
    http_date_target = int(time.time()) + 3  # HTTP dates have 1 s resolution: 2-3 s ahead
    fake.script(
        Behaviour.rate_limited(retry_after=formatdate(http_date_target, usegmt=True)),
        Behaviour.rate_limited(retry_after=1),
        Behaviour.rate_limited(headers={"retry-after-ms": "1200"}),
        Behaviour.reply(TRIAGE),
    )
    result = await make_client(llm_max_attempts=4).generate(triage_request())

    requests = fake.requests
    assert result.attempts == len(requests) == 4
    assert [r.answer for r in requests] == ["error:429"] * 3 + ["reply"]
    delays = [b.arrived_mono - a.arrived_mono for a, b in itertools.pairwise(requests)]
    report = {
        "attempts": result.attempts,
        "asked": ["Retry-After: <HTTP date>", "Retry-After: 1", "retry-after-ms: 1200"],
        "http_date_asked_s": round(http_date_target - requests[0].arrived_at, 3),
        "measured_delays_s": [round(d, 3) for d in delays],
    }
    print(f"429 retries: {report}")
    record_property("retry_after_report", report)
    assert requests[1].arrived_at >= http_date_target
    assert delays[1] >= 1.0
    assert delays[2] >= 1.2
    assert all(r.headers.get("x-stainless-retry-count", "0") == "0" for r in requests)


async def test_retry_after_beyond_the_bound_gives_up_at_once(
    fake: FakeOpenAI, make_client: MakeClient
) -> None:
    fake.script(Behaviour.rate_limited(retry_after=3600), Behaviour.reply(TRIAGE))
    with pytest.raises(RetryableError) as caught:
        await make_client(llm_max_wait_s=5).generate(triage_request())
    assert caught.value.reason == "llm_unavailable"
    assert "HTTP 429" in caught.value.detail
    assert len(fake.requests) == 1


async def test_server_errors_then_success(fake: FakeOpenAI, make_client: MakeClient) -> None:
    fake.script(Behaviour.fail(500), Behaviour.fail(503), Behaviour.reply(TRIAGE))
    result = await make_client().generate(triage_request())
    assert result.attempts == 3
    assert result.value.category == "billing"
    assert [r.answer for r in fake.requests] == ["error:500", "error:503", "reply"]


@pytest.mark.parametrize("status", [408, 409, 429, 502, 504])
async def test_retryable_statuses(fake: FakeOpenAI, make_client: MakeClient, status: int) -> None:
    fake.script(Behaviour.fail(status), Behaviour.reply(TRIAGE))
    assert (await make_client().generate(triage_request())).attempts == 2


async def test_attempts_exhausted_is_retryable_llm_unavailable(
    fake: FakeOpenAI, make_client: MakeClient
) -> None:
    fake.script(Behaviour.fail(500, times=3))
    with pytest.raises(RetryableError) as caught:
        await make_client(llm_max_attempts=3).generate(triage_request())
    assert caught.value.reason == "llm_unavailable"
    assert "after 3 attempts: HTTP 500" in caught.value.detail
    assert len(fake.requests) == 3


async def test_timeout_then_success(fake: FakeOpenAI, make_client: MakeClient) -> None:
    fake.script(Behaviour.hang(30), Behaviour.reply(TRIAGE))
    started = time.monotonic()  # the fake runs in this process: its clock is this one
    result = await make_client(llm_timeout_s=0.5).generate(triage_request())
    assert result.attempts == 2
    _, second = fake.requests
    assert second.arrived_mono - started >= 0.5, "the first attempt ran to its timeout"


async def test_every_attempt_times_out(fake: FakeOpenAI, make_client: MakeClient) -> None:
    fake.script(Behaviour.hang(30, times=2))
    with pytest.raises(RetryableError) as caught:
        await make_client(llm_timeout_s=0.3, llm_max_attempts=2).generate(triage_request())
    assert caught.value.reason == "llm_unavailable"
    assert "timed out" in caught.value.detail
    assert len(fake.requests) == 2


async def test_slow_reply_within_the_timeout(fake: FakeOpenAI, make_client: MakeClient) -> None:
    fake.script(Behaviour.reply(TRIAGE, delay_s=0.3))
    assert (await make_client(llm_timeout_s=5).generate(triage_request())).attempts == 1


async def test_dropped_connection_is_retried(fake: FakeOpenAI, make_client: MakeClient) -> None:
    fake.script(Behaviour.drop(), Behaviour.reply(TRIAGE))
    assert (await make_client().generate(triage_request())).attempts == 2
