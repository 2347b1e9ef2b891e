"""The triage service alone, against a real Redis: validator-shaped input in, a handoff out."""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.contracts import TriageResult
from tests.integration.harness import (
    INTAKE_RESULT,
    TRACEPARENT,
    TRIAGE_REQUEST,
    entries,
    envelope,
    envelopes,
    pending,
    run_record,
    running,
    wait_for_entries,
    xadd,
)


async def test_triage_request_yields_a_classified_handoff(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    sent = envelope("e-tri-1", "validator", TRIAGE_REQUEST, hops=2,
                    results={"intake": INTAKE_RESULT})  # fmt: skip
    async with running(redis, redis_server.url, "triage", prefix) as service:
        entry_id = await xadd(redis, service.keys.stream("triage"), sent.to_fields())
        await wait_for_entries(redis, service.keys.handoffs)
        assert await pending(redis, service.stream, service.group) == 0
    (handoff,) = await envelopes(redis, service.keys.handoffs)
    assert handoff.event_id == "e-tri-1"
    assert handoff.stage == "triage"
    assert handoff.hops == 3
    assert handoff.attempt == 0
    assert handoff.input == TRIAGE_REQUEST
    assert handoff.results == {"intake": INTAKE_RESULT}
    assert handoff.created_at == sent.created_at
    assert handoff.traceparent == TRACEPARENT
    result = TriageResult.model_validate(handoff.payload)
    assert (result.category, result.priority, result.route) == ("billing", "normal", "respond")
    assert result.key_facts == ["INV-1234"]

    record = await run_record(redis, service.keys, "e-tri-1")
    assert record["status"] == "in_progress"
    (step,) = record["steps"]
    assert (step["stage"], step["outcome"], step["entry_id"]) == ("triage", "ok", entry_id)
    assert step["tokens_in"] > 0
    assert step["tokens_out"] > 0
    assert step["decision"]["category"] == "billing"


async def test_handoff_carries_the_flat_event_id_and_traceparent_fields(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    async with running(redis, redis_server.url, "triage", prefix) as service:
        await xadd(redis, service.keys.stream("triage"),
                   envelope("e-tri-2", "validator", TRIAGE_REQUEST).to_fields())  # fmt: skip
        await wait_for_entries(redis, service.keys.handoffs)
    ((_, fields),) = await entries(redis, service.keys.handoffs)
    assert fields[b"event_id"] == b"e-tri-2"
    assert fields[b"traceparent"] == TRACEPARENT.encode()  # tracing off: passed on unchanged


async def test_clarification_retry_keeps_its_attempt_on_the_handoff(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    retry = envelope("e-tri-3", "validator", TRIAGE_REQUEST, hops=4, attempt=1,
                     feedback=["summary: contains personal data"])  # fmt: skip
    async with running(redis, redis_server.url, "triage", prefix) as service:
        await xadd(redis, service.keys.stream("triage"), retry.to_fields())
        await wait_for_entries(redis, service.keys.handoffs)
    (handoff,) = await envelopes(redis, service.keys.handoffs)
    assert (handoff.attempt, handoff.hops, handoff.feedback) == (1, 5, [])
    assert handoff.input == TRIAGE_REQUEST
    (step,) = (await run_record(redis, service.keys, "e-tri-3"))["steps"]
    assert step["attempt"] == 1


async def test_vague_request_is_routed_to_clarify(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    vague = {**TRIAGE_REQUEST, "text": "help me", "summary": "help me", "key_facts": []}
    async with running(redis, redis_server.url, "triage", prefix) as service:
        await xadd(redis, service.keys.stream("triage"),
                   envelope("e-tri-4", "validator", vague).to_fields())  # fmt: skip
        await wait_for_entries(redis, service.keys.handoffs)
    (handoff,) = await envelopes(redis, service.keys.handoffs)
    assert handoff.payload["route"] == "clarify"


async def test_input_breaking_the_triage_contract_is_dead_lettered_with_its_envelope(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    broken = {**TRIAGE_REQUEST, "injection_risk": "0.0"}
    sent = envelope("e-tri-5", "validator", broken)
    async with running(redis, redis_server.url, "triage", prefix) as service:
        entry_id = await xadd(redis, service.keys.stream("triage"), sent.to_fields())
        await wait_for_entries(redis, service.keys.dlq)
        assert await pending(redis, service.stream, service.group) == 0
    assert await redis.xlen(service.keys.handoffs) == 0
    ((_, dead),) = await entries(redis, service.keys.dlq)
    assert dead[b"event_id"] == b"e-tri-5"
    assert dead[b"reason"] == b"contract_violation"
    assert dead[b"stage"] == b"triage"
    assert dead[b"entry_id"] == entry_id.encode()
    assert [e["loc"] for e in orjson.loads(dead[b"errors"])] == ["injection_risk"]
    assert orjson.loads(dead[b"envelope"])["payload"] == broken
    record = await run_record(redis, service.keys, "e-tri-5")
    assert (record["status"], record["reason"]) == ("dead_lettered", "contract_violation")


async def test_unsupported_schema_version_is_dead_lettered(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    data = envelope("e-tri-6", "validator", TRIAGE_REQUEST).model_dump(mode="json")
    data["schema_version"] = 99
    raw = orjson.dumps(data)
    async with running(redis, redis_server.url, "triage", prefix) as service:
        await xadd(
            redis, service.keys.stream("triage"), {b"event_id": b"e-tri-6", b"envelope": raw}
        )
        await wait_for_entries(redis, service.keys.dlq)
    ((_, dead),) = await entries(redis, service.keys.dlq)
    assert (dead[b"event_id"], dead[b"reason"]) == (b"e-tri-6", b"unsupported_schema")
    assert dead[b"payload"] == raw
