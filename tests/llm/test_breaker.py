"""The circuit breaker: opening on consecutive outage failures, failing fast, half-open probes."""

from __future__ import annotations

import asyncio
import time

import pytest

from shared.agents.llm import Availability, LLMClient
from shared.agents.llm.breaker import CircuitBreaker
from shared.errors import PermanentError, RetryableError, UnavailableError
from tests.fakes.behaviours import Behaviour
from tests.fakes.openai_server import FakeOpenAI
from tests.llm.conftest import MakeClient
from tests.llm.test_openai_provider import TRIAGE, triage_request

BREAKER = {"llm_breaker_failures": 3, "llm_breaker_cooldown_s": 0.5, "llm_max_attempts": 1}


def state(client: LLMClient | CircuitBreaker) -> Availability:
    """Read through a call, so the type checker does not narrow it between steps."""
    return client.state


async def test_opens_fails_fast_then_half_open_probe_closes(
    fake: FakeOpenAI, make_client: MakeClient
) -> None:
    client = make_client(**BREAKER)
    fake.script(Behaviour.fail(500, times=3))
    for n in range(3):
        with pytest.raises(RetryableError) as failed:
            await client.generate(triage_request())
        # The third failure opened the breaker: that call's error is the provider's outage.
        assert isinstance(failed.value, UnavailableError) == (n == 2)
    assert state(client) == "open"

    with pytest.raises(UnavailableError) as caught:  # the provider's failure, not the event's
        await client.generate(triage_request())
    assert caught.value.reason == "circuit_open"
    assert len(fake.requests) == 3, "an open breaker fails fast without calling the provider"

    opened = time.monotonic()
    await asyncio.wait_for(client.wait_until_available(), timeout=30)
    assert time.monotonic() - opened >= 0.4  # the cool-down (less what the last call took)
    assert state(client) == "half_open"

    fake.script(Behaviour.reply(TRIAGE, delay_s=0.3), Behaviour.reply(TRIAGE))
    probe, follower = await asyncio.gather(
        client.generate(triage_request()), client.generate(triage_request())
    )
    assert probe.value == follower.value
    assert state(client) == "closed"
    first, second = fake.requests[3:]
    assert second.arrived_mono - first.arrived_mono >= 0.3, "the follower waited for the probe"


async def test_failed_probe_opens_again(fake: FakeOpenAI, make_client: MakeClient) -> None:
    client = make_client(**BREAKER, llm_timeout_s=0.3)
    fake.script(Behaviour.hang(30, times=3))
    for _ in range(3):
        with pytest.raises(RetryableError, match="timed out"):
            await client.generate(triage_request())  # timeouts count as outages
    assert state(client) == "open"
    await asyncio.wait_for(client.wait_until_available(), timeout=30)
    fake.script(Behaviour.fail(502))
    with pytest.raises(RetryableError, match="HTTP 502"):
        await client.generate(triage_request())
    assert state(client) == "open"


async def test_client_errors_and_429_do_not_open_it(
    fake: FakeOpenAI, make_client: MakeClient
) -> None:
    client = make_client(**BREAKER)
    fake.script(Behaviour.fail(401, times=3), Behaviour.rate_limited(times=3))
    for _ in range(3):
        with pytest.raises(PermanentError):
            await client.generate(triage_request())
    for _ in range(3):
        with pytest.raises(RetryableError, match="429"):
            await client.generate(triage_request())
    assert state(client) == "closed"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_breaker_state_machine() -> None:
    clock = Clock()
    breaker = CircuitBreaker("http://x", failure_threshold=2, cooldown_s=10, clock=clock)
    (await breaker.acquire()).failure()
    (await breaker.acquire()).success()  # a success resets the count
    (await breaker.acquire()).failure()
    assert state(breaker) == "closed"
    (await breaker.acquire()).failure()
    assert state(breaker) == "open"
    with pytest.raises(RetryableError, match="circuit open"):
        await breaker.acquire()
    clock.now += 10
    assert state(breaker) == "half_open"
    await breaker.wait_until_available()
    probe = await breaker.acquire()
    assert probe.probe

    waiting = asyncio.create_task(breaker.acquire())
    available = asyncio.create_task(breaker.wait_until_available())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    assert not available.done()
    probe.release()  # no verdict (e.g. cancelled): the next caller becomes the probe
    second_probe = await asyncio.wait_for(waiting, 1)
    assert second_probe.probe
    second_probe.success()
    second_probe.failure()  # later reports are ignored
    await asyncio.wait_for(available, 1)
    assert state(breaker) == "closed"
