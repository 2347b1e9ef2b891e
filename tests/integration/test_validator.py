"""The validator alone, against a real Redis: each agent output kind routed where it belongs,
broken outputs sent back with feedback, then dead-lettered."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.contracts import FinalResponse, ResponderRequest, TriageRequest
from shared.pipeline.envelope import Envelope
from tests.integration.harness import (
    INTAKE_RESULT,
    RESPONDER_REQUEST,
    RESPONDER_RESULT,
    TRACEPARENT,
    TRIAGE_REQUEST,
    TRIAGE_RESULT,
    Running,
    entries,
    envelope,
    envelopes,
    pending,
    run_record,
    running,
    wait_for_entries,
    xadd,
)

AFTER_TRIAGE = {"intake": INTAKE_RESULT}
AFTER_RESPONDER = {"intake": INTAKE_RESULT, "triage": TRIAGE_RESULT}


def agent_output(
    event_id: str,
    stage: str,
    payload: dict[str, Any],
    given: dict[str, Any],
    results: dict[str, Any],
    **fields: Any,
) -> Envelope:
    """What an agent publishes to the handoffs: its output, with the input it was given."""
    return envelope(event_id, stage, payload, hops=3, input=given, results=results, **fields)


async def validate(
    redis: Redis, service: Running, handoff: Envelope, target: str
) -> list[tuple[str, dict[bytes, bytes]]]:
    """Publish ``handoff`` and return what landed on ``target`` once it did."""
    await xadd(redis, service.keys.handoffs, handoff.to_fields())
    await wait_for_entries(redis, target)
    assert await pending(redis, service.stream, service.group) == 0
    return await entries(redis, target)


async def test_intake_output_goes_to_triage_as_a_triage_request(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    output = agent_output("e-val-1", "intake", INTAKE_RESULT, {"text": "raw"}, {})
    async with running(redis, redis_server.url, "validator", prefix) as service:
        await validate(redis, service, output, service.keys.stream("triage"))
    (routed,) = await envelopes(redis, service.keys.stream("triage"))
    assert (routed.event_id, routed.stage, routed.hops) == ("e-val-1", "validator", 4)
    assert TriageRequest.model_validate(routed.payload) == TriageRequest.model_validate(
        TRIAGE_REQUEST
    )
    assert routed.results == {"intake": INTAKE_RESULT}
    assert (routed.input, routed.attempt, routed.feedback) == (None, 0, [])
    assert routed.traceparent == TRACEPARENT
    record = await run_record(redis, service.keys, "e-val-1")
    assert record["status"] == "in_progress"
    (step,) = record["steps"]
    assert (step["stage"], step["outcome"]) == ("validator", "routed")
    assert step["decision"] == {"verdict": "accepted", "checked": "intake", "route": "triage"}


async def test_intake_output_with_injection_risk_is_escalated_with_a_packet(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    risky = {**INTAKE_RESULT, "injection_risk": 0.9,
             "injection_signals": ["override_instructions", "routing_manipulation"]}  # fmt: skip
    output = agent_output("e-val-2", "intake", risky, {"text": "raw"}, {})
    async with running(redis, redis_server.url, "validator", prefix) as service:
        ((_, fields),) = await validate(redis, service, output, service.keys.escalations)
    assert await redis.xlen(service.keys.stream("triage")) == 0
    assert (fields[b"event_id"], fields[b"reason"]) == (b"e-val-2", b"prompt_injection_suspected")
    assert same_trace(fields[b"traceparent"])
    packet = orjson.loads(fields[b"packet"])
    assert packet["event_id"] == "e-val-2"
    assert packet["reason"] == "prompt_injection_suspected"
    assert packet["text"] == INTAKE_RESULT["text"]
    assert (packet["language"], packet["channel"]) == ("en", "email")
    assert packet["scores"] == {"confidence": None, "injection_risk": 0.9}
    assert packet["signals"] == ["override_instructions", "routing_manipulation"]
    assert packet["tried"] == ["intake"]
    assert packet["suggested_action"]
    assert Envelope.from_fields({b"envelope": fields[b"envelope"]}).event_id == "e-val-2"
    record = await run_record(redis, service.keys, "e-val-2")
    assert (record["status"], record["reason"]) == ("escalated", "prompt_injection_suspected")


@pytest.mark.parametrize(
    ("route", "mode"),
    [("respond", "answer"), ("clarify", "clarify")],
)
async def test_triage_output_goes_to_the_responder(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str, route: str, mode: str
) -> None:
    decided = {**TRIAGE_RESULT, "route": route}
    output = agent_output("e-val-3", "triage", decided, TRIAGE_REQUEST, AFTER_TRIAGE)
    async with running(redis, redis_server.url, "validator", prefix) as service:
        await validate(redis, service, output, service.keys.stream("responder"))
    (routed,) = await envelopes(redis, service.keys.stream("responder"))
    assert (routed.event_id, routed.stage, routed.hops) == ("e-val-3", "validator", 4)
    request = ResponderRequest.model_validate(routed.payload)
    assert request == ResponderRequest.model_validate({**RESPONDER_REQUEST, "mode": mode})
    assert routed.results == {"intake": INTAKE_RESULT, "triage": decided}
    assert await redis.xlen(service.keys.escalations) == 0


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"category": "legal", "priority": "high"}, "sensitive_topic"),
        ({"category": "emergency", "priority": "urgent"}, "sensitive_topic"),
        ({"category": "complaint"}, "sensitive_topic"),
        ({"human_requested": True}, "human_requested"),
        ({"route": "escalate", "reasons": ["ambiguous_with_refund"]}, "agent_escalated"),
        ({"confidence": 0.4}, "low_confidence"),
    ],
)
async def test_triage_output_needing_a_human_is_escalated(
    redis_server: EmbeddedRedis,
    redis: Redis,
    prefix: str,
    changes: dict[str, Any],
    reason: str,
) -> None:
    decided = {**TRIAGE_RESULT, **changes}
    output = agent_output("e-val-4", "triage", decided, TRIAGE_REQUEST, AFTER_TRIAGE)
    async with running(redis, redis_server.url, "validator", prefix) as service:
        ((_, fields),) = await validate(redis, service, output, service.keys.escalations)
    assert await redis.xlen(service.keys.stream("responder")) == 0
    assert fields[b"reason"] == reason.encode()
    packet = orjson.loads(fields[b"packet"])
    assert packet["classification"] == {k: decided[k] for k in ("category", "priority", "route")}
    assert packet["scores"] == {"confidence": decided["confidence"], "injection_risk": 0.0}
    assert packet["signals"] == decided["reasons"]
    assert packet["tried"] == ["intake", "triage"]
    record = await run_record(redis, service.keys, "e-val-4")
    assert (record["status"], record["reason"]) == ("escalated", reason)


async def test_responder_output_becomes_the_final_response(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    output = agent_output("e-val-5", "responder", RESPONDER_RESULT, RESPONDER_REQUEST,
                          AFTER_RESPONDER)  # fmt: skip
    async with running(redis, redis_server.url, "validator", prefix) as service:
        ((_, fields),) = await validate(redis, service, output, service.keys.responses)
    assert fields[b"event_id"] == b"e-val-5"
    assert same_trace(fields[b"traceparent"])
    final = FinalResponse.model_validate_json(fields[b"response"])
    assert final == FinalResponse(
        event_id="e-val-5",
        reply=RESPONDER_RESULT["reply"],
        language="en",
        category="billing",
        priority="normal",
        mode="answer",
        summary=TRIAGE_RESULT["summary"],
    )
    record = await run_record(redis, service.keys, "e-val-5")
    assert record["status"] == "responded"
    (step,) = record["steps"]
    assert step["decision"]["route"] == "responses"


async def reject_three_times(
    redis: Redis, service: Running, event_id: str, broken: dict[str, Any], ends_in: str
) -> None:
    """The responder's output breaks its contract on the first try and both clarifications."""
    output = agent_output(event_id, "responder", broken, RESPONDER_REQUEST, AFTER_RESPONDER)
    for attempt in (1, 2):
        await xadd(redis, service.keys.handoffs, output.to_fields())
        await wait_for_entries(redis, service.keys.stream("responder"), attempt)
        retry = (await envelopes(redis, service.keys.stream("responder")))[-1]
        assert (retry.event_id, retry.stage, retry.attempt) == (event_id, "validator", attempt)
        assert retry.payload == RESPONDER_REQUEST
        assert retry.clarifications == attempt
        assert [f.split(":")[0] for f in retry.feedback] == ["reply", "language"]
        # The responder answers the retry, still breaking the contract.
        output = retry.next("responder", broken, input=retry.payload, attempt=retry.attempt)
    await xadd(redis, service.keys.handoffs, output.to_fields())
    await wait_for_entries(redis, ends_in)
    assert await pending(redis, service.stream, service.group) == 0
    assert await redis.xlen(service.keys.stream("responder")) == 2
    assert await redis.xlen(service.keys.responses) == 0


BROKEN_REPLY = {"reply": "", "language": "english", "follow_up_questions": []}


async def test_reply_breaking_its_contract_three_times_goes_to_a_human_with_the_earlier_results(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    async with running(redis, redis_server.url, "validator", prefix) as service:
        await reject_three_times(redis, service, "e-val-6", BROKEN_REPLY, service.keys.escalations)
    assert await redis.xlen(service.keys.dlq) == 0
    ((_, escalated),) = await entries(redis, service.keys.escalations)
    assert escalated[b"reason"] == b"invalid_agent_output"
    packet = orjson.loads(escalated[b"packet"])
    assert packet["results"] == AFTER_RESPONDER, "the operator sees what intake and triage found"
    assert "after 3 attempt(s)" in packet["detail"]
    assert packet["suggested_action"].startswith("An agent's output kept failing")
    record = await run_record(redis, service.keys, "e-val-6")
    assert (record["status"], record["reason"]) == ("escalated", "invalid_agent_output")
    assert [s["outcome"] for s in record["steps"]] == [
        "clarification_requested", "clarification_requested", "escalated"
    ]  # fmt: skip


async def test_reply_breaking_its_contract_three_times_is_dead_lettered_when_configured(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    async with running(
        redis, redis_server.url, "validator", prefix, validator_invalid_output="dead_letter"
    ) as service:
        await reject_three_times(redis, service, "e-val-6b", BROKEN_REPLY, service.keys.dlq)
    ((_, dead),) = await entries(redis, service.keys.dlq)
    assert (dead[b"event_id"], dead[b"reason"]) == (b"e-val-6b", b"contract_violation")
    assert dead[b"stage"] == b"validator"
    assert b"after 3 attempt(s)" in dead[b"detail"]
    assert {e["loc"] for e in orjson.loads(dead[b"errors"])} == {"reply", "language"}
    assert Envelope.from_fields({b"envelope": dead[b"envelope"]}).attempt == 2
    record = await run_record(redis, service.keys, "e-val-6b")
    assert (record["status"], record["reason"]) == ("dead_lettered", "contract_violation")


async def test_reply_leaking_pii_goes_back_to_the_responder_with_feedback(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    leaky = {**RESPONDER_RESULT, "reply": "Hello, we wrote to jane.doe@example.com."}
    output = agent_output("e-val-7", "responder", leaky, RESPONDER_REQUEST, AFTER_RESPONDER)
    async with running(redis, redis_server.url, "validator", prefix) as service:
        await validate(redis, service, output, service.keys.stream("responder"))
    (retry,) = await envelopes(redis, service.keys.stream("responder"))
    assert retry.attempt == 1
    assert retry.feedback == ["reply: contains personal data (email, phone or card number)"]
    assert retry.results == AFTER_RESPONDER
    assert await redis.xlen(service.keys.responses) == 0
    (step,) = (await run_record(redis, service.keys, "e-val-7"))["steps"]
    assert step["decision"]["verdict"] == "rejected"


async def test_unredacted_intake_output_goes_back_to_intake(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    leaky = {**INTAKE_RESULT, "text": "Call me on +1 415 555 0132"}
    given = {"text": "Call me on +1 415 555 0132", "channel": "api", "event_id": "e-val-8"}
    output = agent_output("e-val-8", "intake", leaky, given, {})
    async with running(redis, redis_server.url, "validator", prefix) as service:
        await validate(redis, service, output, service.keys.stream("intake"))
    (retry,) = await envelopes(redis, service.keys.stream("intake"))
    assert (retry.attempt, retry.payload) == (1, given)
    assert retry.feedback == ["text: personal data (email, phone or card number) was not redacted"]
    assert await redis.xlen(service.keys.stream("triage")) == 0


async def test_broken_output_without_its_input_is_dead_lettered_at_once(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    output = envelope("e-val-9", "triage", {**TRIAGE_RESULT, "route": "refund_now"}, hops=3)
    async with running(redis, redis_server.url, "validator", prefix) as service:
        ((_, dead),) = await validate(redis, service, output, service.keys.dlq)
    assert (dead[b"event_id"], dead[b"reason"]) == (b"e-val-9", b"contract_violation")
    assert await redis.xlen(service.keys.stream("triage")) == 0


async def test_handoff_from_an_unexpected_stage_is_dead_lettered(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    forged = envelope("e-val-10", "operator", RESPONDER_RESULT, hops=3)
    async with running(redis, redis_server.url, "validator", prefix) as service:
        ((_, dead),) = await validate(redis, service, forged, service.keys.dlq)
    assert (dead[b"event_id"], dead[b"reason"]) == (b"e-val-10", b"contract_violation")
    assert b"unexpected stage" in dead[b"detail"]
    assert await redis.xlen(service.keys.responses) == 0


async def test_every_outcome_ends_in_exactly_one_stream(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    outputs = [
        agent_output("e-mix-1", "responder", RESPONDER_RESULT, RESPONDER_REQUEST, AFTER_RESPONDER),
        agent_output("e-mix-2", "triage", {**TRIAGE_RESULT, "category": "legal"},
                     TRIAGE_REQUEST, AFTER_TRIAGE),
        envelope("e-mix-3", "responder", {"reply": 1}, hops=3),
        agent_output("e-mix-4", "intake", INTAKE_RESULT, {"text": "raw"}, {}),
    ]  # fmt: skip
    async with running(redis, redis_server.url, "validator", prefix) as service:
        for output in outputs:
            await xadd(redis, service.keys.handoffs, output.to_fields())
        for stream in (service.keys.responses, service.keys.escalations, service.keys.dlq,
                       service.keys.stream("triage")):  # fmt: skip
            await wait_for_entries(redis, stream)
        assert await pending(redis, service.stream, service.group) == 0
    landed = {
        stream: [fields[b"event_id"] for _, fields in await entries(redis, stream)]
        for stream in (service.keys.responses, service.keys.escalations, service.keys.dlq,
                       service.keys.stream("triage"), service.keys.stream("responder"))
    }  # fmt: skip
    assert landed == {
        service.keys.responses: [b"e-mix-1"],
        service.keys.escalations: [b"e-mix-2"],
        service.keys.dlq: [b"e-mix-3"],
        service.keys.stream("triage"): [b"e-mix-4"],
        service.keys.stream("responder"): [],
    }


def same_trace(traceparent: bytes) -> bool:
    """The entry continues the event's trace (from the publishing hop's own send span)."""
    return traceparent.decode().split("-")[1] == TRACEPARENT.split("-")[1]
