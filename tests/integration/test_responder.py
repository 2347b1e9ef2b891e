"""The responder service alone, against a real Redis: a routed request in, a drafted reply out."""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from services.responder.rules import CLARIFY, URGENT_NOTE
from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.contracts import ResponderResult
from tests.integration.harness import (
    INTAKE_RESULT,
    RESPONDER_REQUEST,
    TRACEPARENT,
    TRIAGE_RESULT,
    entries,
    envelope,
    envelopes,
    pending,
    run_record,
    running,
    wait_for_entries,
    xadd,
)

RESULTS = {"intake": INTAKE_RESULT, "triage": TRIAGE_RESULT}


async def test_responder_request_yields_a_reply_handoff(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    sent = envelope("e-res-1", "validator", RESPONDER_REQUEST, hops=4, results=RESULTS)
    async with running(redis, redis_server.url, "responder", prefix) as service:
        entry_id = await xadd(redis, service.keys.stream("responder"), sent.to_fields())
        await wait_for_entries(redis, service.keys.handoffs)
        assert await pending(redis, service.stream, service.group) == 0
    (handoff,) = await envelopes(redis, service.keys.handoffs)
    assert (handoff.event_id, handoff.stage, handoff.hops) == ("e-res-1", "responder", 5)
    assert handoff.input == RESPONDER_REQUEST
    assert handoff.results == RESULTS
    assert handoff.traceparent == TRACEPARENT
    reply = ResponderResult.model_validate(handoff.payload)
    assert reply.language == "en"
    assert reply.reply.startswith("Hello,")
    assert "invoice" in reply.reply
    assert reply.follow_up_questions == []

    record = await run_record(redis, service.keys, "e-res-1")
    (step,) = record["steps"]
    assert (step["stage"], step["outcome"], step["entry_id"]) == ("responder", "ok", entry_id)
    assert step["tokens_out"] > 0


async def test_clarify_mode_asks_the_customer_for_details(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    request = {**RESPONDER_REQUEST, "category": "general", "mode": "clarify"}
    async with running(redis, redis_server.url, "responder", prefix) as service:
        await xadd(redis, service.keys.stream("responder"),
                   envelope("e-res-2", "validator", request).to_fields())  # fmt: skip
        await wait_for_entries(redis, service.keys.handoffs)
    (handoff,) = await envelopes(redis, service.keys.handoffs)
    reply = ResponderResult.model_validate(handoff.payload)
    assert CLARIFY in reply.reply
    assert len(reply.follow_up_questions) == 2


async def test_reply_is_in_the_customer_language_and_flags_urgency(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    request = {**RESPONDER_REQUEST, "language": "es", "priority": "urgent"}
    async with running(redis, redis_server.url, "responder", prefix) as service:
        await xadd(redis, service.keys.stream("responder"),
                   envelope("e-res-3", "validator", request).to_fields())  # fmt: skip
        await wait_for_entries(redis, service.keys.handoffs)
    (handoff,) = await envelopes(redis, service.keys.handoffs)
    reply = ResponderResult.model_validate(handoff.payload)
    assert reply.language == "es"
    assert reply.reply.startswith("Hola,")
    assert URGENT_NOTE in reply.reply


async def test_feedback_retry_keeps_attempt_and_drops_feedback_on_the_handoff(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    retry = envelope("e-res-4", "validator", RESPONDER_REQUEST, hops=6, attempt=2,
                     feedback=["reply: contains personal data"], results=RESULTS)  # fmt: skip
    async with running(redis, redis_server.url, "responder", prefix) as service:
        await xadd(redis, service.keys.stream("responder"), retry.to_fields())
        await wait_for_entries(redis, service.keys.handoffs)
    (handoff,) = await envelopes(redis, service.keys.handoffs)
    assert (handoff.attempt, handoff.hops, handoff.feedback) == (2, 7, [])


async def test_request_with_an_unknown_category_is_dead_lettered(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    request = {**RESPONDER_REQUEST, "category": "sales"}
    async with running(redis, redis_server.url, "responder", prefix) as service:
        await xadd(redis, service.keys.stream("responder"),
                   envelope("e-res-5", "validator", request).to_fields())  # fmt: skip
        await wait_for_entries(redis, service.keys.dlq)
        assert await pending(redis, service.stream, service.group) == 0
    assert await redis.xlen(service.keys.handoffs) == 0
    ((_, dead),) = await entries(redis, service.keys.dlq)
    assert (dead[b"event_id"], dead[b"reason"]) == (b"e-res-5", b"contract_violation")
    assert [e["loc"] for e in orjson.loads(dead[b"errors"])] == ["category"]
