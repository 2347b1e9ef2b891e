"""The versioned envelope: its wire format, how it moves between hops, and how it fails."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from shared.errors import ContractError
from shared.pipeline.envelope import SCHEMA_VERSION, Envelope, Fields, Halt

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def make_envelope(**changes: Any) -> Envelope:
    values: dict[str, Any] = {
        "event_id": "e-1",
        "stage": "intake",
        "payload": {"text": "My invoice is wrong", "language": "en"},
        "input": {"text": "My invoice is wrong"},
        "results": {"producer": {"text": "My invoice is wrong"}},
        "attempt": 1,
        "feedback": ["summary: too long"],
        "hops": 3,
        "created_at": 1_700_000_000.25,
        "produced_at": 1_700_000_001.5,
        "traceparent": TRACEPARENT,
        "tracestate": "vendor=1",
    }
    values.update(changes)
    return Envelope(**values)


def fields_with(envelope: dict[str, Any], event_id: bytes = b"e-1") -> Fields:
    return {b"event_id": event_id, b"envelope": orjson.dumps(envelope)}


def test_to_fields_then_from_fields_gives_back_the_same_envelope() -> None:
    envelope = make_envelope()
    assert Envelope.from_fields(envelope.to_fields()) == envelope


def test_round_trip_keeps_guardrail_state() -> None:
    envelope = make_envelope(
        budget_tokens=5_000,
        budget_usd=0.25,
        trail=["triage:1a2b", "responder:3c4d"],
        clarifications=2,
        halt=Halt(reason="budget_exceeded", detail="20000 tokens spent"),
    )
    assert Envelope.from_fields(envelope.to_fields()) == envelope


def test_next_clears_a_halt_and_keeps_the_trail() -> None:
    halted = make_envelope(halt=Halt(reason="deadline_exceeded", detail="late"), trail=["a"])
    nxt = halted.next("validator", {})
    assert nxt.halt is None
    assert nxt.trail == ["a"]


def test_wire_fields_carry_event_id_and_traceparent_flat() -> None:
    fields = make_envelope().to_fields()
    assert fields[b"event_id"] == b"e-1"
    assert fields[b"traceparent"] == TRACEPARENT.encode()
    assert orjson.loads(fields[b"envelope"])["schema_version"] == SCHEMA_VERSION


def test_traceparent_field_is_omitted_when_there_is_no_trace() -> None:
    fields = make_envelope(traceparent=None).to_fields()
    assert set(fields) == {b"event_id", b"envelope"}


def test_next_keeps_the_event_id_and_counts_one_more_hop() -> None:
    envelope = make_envelope()
    nxt = envelope.next("validator", {"category": "billing"})
    assert nxt.event_id == envelope.event_id
    assert nxt.hops == envelope.hops + 1
    assert nxt.next("triage", {}).hops == envelope.hops + 2
    assert (nxt.stage, nxt.payload) == ("validator", {"category": "billing"})


def test_next_resets_per_hop_state_and_keeps_the_rest() -> None:
    envelope = make_envelope()
    nxt = envelope.next("validator", {})
    assert (nxt.input, nxt.feedback, nxt.attempt) == (None, [], 0)
    assert nxt.results == envelope.results
    assert nxt.created_at == envelope.created_at
    assert nxt.traceparent == envelope.traceparent
    assert nxt.produced_at >= envelope.produced_at


def test_next_applies_explicit_changes() -> None:
    nxt = make_envelope().next("validator", {}, attempt=2, feedback=["fix it"], input={"a": 1})
    assert (nxt.attempt, nxt.feedback, nxt.input) == (2, ["fix it"], {"a": 1})


def test_next_does_not_modify_the_original() -> None:
    envelope = make_envelope()
    envelope.next("validator", {"x": 1})
    assert (envelope.stage, envelope.hops) == ("intake", 3)


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_unsupported_schema_version_is_a_contract_error(version: object) -> None:
    data = make_envelope().model_dump(mode="json")
    data["schema_version"] = version
    with pytest.raises(ContractError) as caught:
        Envelope.from_fields(fields_with(data))
    assert caught.value.reason == "unsupported_schema"
    assert caught.value.event_id == "e-1"


def test_missing_schema_version_is_unsupported() -> None:
    data = make_envelope().model_dump(mode="json")
    del data["schema_version"]
    with pytest.raises(ContractError) as caught:
        Envelope.from_fields(fields_with(data))
    assert caught.value.reason == "unsupported_schema"


@pytest.mark.parametrize("raw", [b"{not json", b"", b'{"a": NaN}', b"\xff\xfe"])
def test_invalid_json_is_a_parse_error_that_keeps_the_raw_text(raw: bytes) -> None:
    with pytest.raises(ContractError) as caught:
        Envelope.from_fields({b"event_id": b"e-9", b"envelope": raw})
    assert caught.value.reason == "parse_error"
    assert caught.value.event_id == "e-9"
    assert caught.value.raw == raw.decode("utf-8", "replace")


def test_missing_envelope_field_is_a_contract_violation() -> None:
    with pytest.raises(ContractError) as caught:
        Envelope.from_fields({b"event_id": b"e-2", b"payload": b"{}"})
    assert caught.value.reason == "contract_violation"
    assert caught.value.event_id == "e-2"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stage", "Billing Dept"),
        ("hops", -1),
        ("hops", "3"),
        ("attempt", True),
        ("event_id", "has space"),
        ("payload", None),
        ("feedback", ["x"] * 21),
        ("surprise", 1),
    ],
)
def test_envelope_breaking_its_contract_lists_the_field(field: str, value: object) -> None:
    data = make_envelope().model_dump(mode="json")
    data[field] = value
    with pytest.raises(ContractError) as caught:
        Envelope.from_fields(fields_with(data))
    assert caught.value.reason == "contract_violation"
    assert [e["loc"].split(".")[0] for e in caught.value.errors] == [field]


def test_validation_errors_do_not_echo_the_input() -> None:
    data = make_envelope().model_dump(mode="json")
    data["stage"] = "secret-customer@example.com"
    with pytest.raises(ContractError) as caught:
        Envelope.from_fields(fields_with(data))
    assert "secret-customer" not in orjson.dumps(caught.value.errors).decode()


def test_a_json_array_is_not_an_envelope() -> None:
    with pytest.raises(ContractError) as caught:
        Envelope.from_fields({b"envelope": b"[1, 2]"})
    assert caught.value.reason == "contract_violation"
    assert caught.value.event_id is None
