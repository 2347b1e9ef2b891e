"""A provider outage never burns events: the whole pipeline on the openai provider while the
fake server is down for a minute (refusing connections, then answering 500, then hanging), with
300 events flowing. The breakers open, the stages stop taking work, the events in flight wait
at no cost to their delivery count, and every event is answered once the provider is back."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from redis.asyncio import Redis

from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.keys import Keys
from tests.fakes.behaviours import Behaviour, Recorded
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import post, wait_for
from tests.llm.test_pipeline_openai import answer_every_agent, pipeline

pytestmark = pytest.mark.fault

EVENTS = 300
PHASE_S = 20.0
"""Each of the three ways of being down lasts this long: a minute of outage in all."""
OUTAGE: dict[str, Any] = {"llm_breaker_failures": 5, "llm_breaker_cooldown_s": 2.0,
                          "llm_timeout_s": 1.0, "concurrency": 64, "max_deliveries": 3}  # fmt: skip
MARK = re.compile(r"order O-(\d{4})")


def ticket(n: int) -> dict[str, Any]:
    return {
        "event_id": f"outage-{n:04d}",
        "customer_id": f"c-{n}",
        "channel": "email",
        "text": f"Where is my order O-{n:04d}? It was due last week and has not arrived.",
    }


def calls_per_event(records: list[Recorded]) -> dict[str, int]:
    """The requests that carried each event's order number (the intake agent's, at least)."""
    counts: dict[str, int] = {}
    for record in records:
        found = MARK.search(record.message("user"))
        if found:
            counts[found.group(1)] = counts.get(found.group(1), 0) + 1
    return counts


async def post_spread(redis: Redis, keys: Keys, numbers: range, over_s: float) -> None:
    """Post the events evenly over ``over_s`` seconds, as a steady producer would."""
    pause = over_s / max(1, len(numbers))
    for n in numbers:
        await post(redis, keys, ticket(n))
        await asyncio.sleep(pause)


async def test_a_minute_of_provider_outage_dead_letters_nothing_and_answers_every_event(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    first = FakeOpenAI().start()
    answer_every_agent(first)
    port = first.port
    records: list[Recorded] = []
    async with pipeline(redis_server.url, prefix, first, **OUTAGE):
        await post_spread(redis, keys, range(0, 50), over_s=2.0)

        first.stop()  # connection refused
        records += first.requests
        await post_spread(redis, keys, range(50, 150), over_s=PHASE_S)

        failing = FakeOpenAI(port=port).start()  # up again, but every call fails with 500
        failing.set_defaults(Behaviour.fail(500))
        await post_spread(redis, keys, range(150, 250), over_s=PHASE_S)

        failing.set_defaults(Behaviour.hang(30))  # accepts, never answers
        await post_spread(redis, keys, range(250, EVENTS), over_s=PHASE_S)
        assert await redis.xlen(keys.dlq) == 0, "the outage dead-lettered events"

        answer_every_agent(failing)  # back
        back = time.monotonic()

        async def all_answered() -> bool:
            return await redis.xlen(keys.responses) >= EVENTS

        await wait_for(all_answered, timeout=120)
        recovery_s = time.monotonic() - back
        records += failing.requests
        failing.stop()

    assert await redis.xlen(keys.dlq) == 0
    assert await redis.xlen(keys.escalations) == 0
    assert await redis.xlen(keys.responses) == EVENTS
    answered = [r for r in records if r.answer == "reply"]
    assert len(answered) == 3 * EVENTS, "each agent answered each event exactly once"
    per_event = calls_per_event(records)
    assert len(per_event) == EVENTS
    # Bounded: the breaker lets through at most a few attempts per event while the provider
    # is down (the first failures before it opens, and an occasional half-open probe).
    assert max(per_event.values()) <= 3 * OUTAGE["max_deliveries"], per_event
    assert recovery_s < 60
