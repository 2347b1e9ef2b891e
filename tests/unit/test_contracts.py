"""The handoff contracts are strict: exact types, no unknown fields, every size bounded."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.pipeline import PIPELINE
from shared.pipeline.contracts import (
    Contract,
    CustomerRequest,
    FinalResponse,
    IntakeResult,
    PiiCounts,
    ResponderRequest,
    ResponderResult,
    TriageRequest,
    TriageResult,
)
from shared.pipeline.contracts.base import MAX_TEXT_CHARS

INTAKE_RESULT: dict[str, Any] = {
    "text": "My invoice is wrong",
    "language": "en",
    "channel": "email",
    "pii": {"email": 0, "phone": 0, "card": 0},
    "injection_risk": 0.0,
    "summary": "My invoice is wrong",
}
TRIAGE_REQUEST: dict[str, Any] = {
    "text": "My invoice is wrong",
    "language": "en",
    "channel": "email",
    "injection_risk": 0.0,
    "summary": "My invoice is wrong",
}
TRIAGE_RESULT: dict[str, Any] = {
    "category": "billing",
    "priority": "normal",
    "confidence": 0.8,
    "route": "respond",
    "summary": "My invoice is wrong",
}
RESPONDER_REQUEST: dict[str, Any] = {
    "text": "My invoice is wrong",
    "language": "en",
    "category": "billing",
    "priority": "normal",
    "mode": "answer",
    "summary": "My invoice is wrong",
}
RESPONDER_RESULT: dict[str, Any] = {"reply": "Hello, we will fix your invoice.", "language": "en"}
FINAL_RESPONSE: dict[str, Any] = {
    "event_id": "e-1",
    "reply": "Hello, we will fix your invoice.",
    "language": "en",
    "category": "billing",
    "priority": "normal",
    "mode": "answer",
    "summary": "My invoice is wrong",
}
CUSTOMER_REQUEST: dict[str, Any] = {"text": "My invoice is wrong"}

VALID: list[tuple[type[Contract], dict[str, Any]]] = [
    (CustomerRequest, CUSTOMER_REQUEST),
    (IntakeResult, INTAKE_RESULT),
    (TriageRequest, TRIAGE_REQUEST),
    (TriageResult, TRIAGE_RESULT),
    (ResponderRequest, RESPONDER_REQUEST),
    (ResponderResult, RESPONDER_RESULT),
    (FinalResponse, FINAL_RESPONSE),
    (PiiCounts, {}),
]


def error_types(contract: type[Contract], data: dict[str, Any]) -> set[tuple[str, str]]:
    """``(field path, error type)`` of every problem ``data`` has against ``contract``."""
    with pytest.raises(ValidationError) as caught:
        contract.model_validate(data)
    return {(".".join(str(p) for p in e["loc"]), e["type"]) for e in caught.value.errors()}


@pytest.mark.parametrize(("contract", "data"), VALID, ids=lambda v: getattr(v, "__name__", ""))
def test_minimal_valid_examples_are_accepted(
    contract: type[Contract], data: dict[str, Any]
) -> None:
    contract.model_validate(data)


@pytest.mark.parametrize(("contract", "data"), VALID, ids=lambda v: getattr(v, "__name__", ""))
def test_unknown_fields_are_rejected(contract: type[Contract], data: dict[str, Any]) -> None:
    assert error_types(contract, {**data, "priority_override": "urgent"}) == {
        ("priority_override", "extra_forbidden")
    }


@pytest.mark.parametrize(
    ("contract", "data", "field", "value"),
    [
        (TriageResult, TRIAGE_RESULT, "confidence", "0.8"),
        (TriageRequest, TRIAGE_REQUEST, "injection_risk", "0"),
        (IntakeResult, INTAKE_RESULT, "injection_risk", "0.1"),
        (PiiCounts, {}, "email", "123"),
        (PiiCounts, {}, "card", 1.0),
    ],
)
def test_numbers_given_as_strings_or_floats_for_ints_are_rejected(
    contract: type[Contract], data: dict[str, Any], field: str, value: object
) -> None:
    assert {loc for loc, _ in error_types(contract, {**data, field: value})} == {field}


@pytest.mark.parametrize(
    ("contract", "data", "field"),
    [
        (PiiCounts, {}, "email"),
        (PiiCounts, {}, "phone"),
        (TriageResult, TRIAGE_RESULT, "confidence"),
        (IntakeResult, INTAKE_RESULT, "injection_risk"),
    ],
)
def test_booleans_are_not_numbers(
    contract: type[Contract], data: dict[str, Any], field: str
) -> None:
    assert {loc for loc, _ in error_types(contract, {**data, field: True})} == {field}


@pytest.mark.parametrize("value", [1, "true", "yes", None])
def test_human_requested_must_be_a_real_boolean(value: object) -> None:
    assert error_types(TriageResult, {**TRIAGE_RESULT, "human_requested": value}) == {
        ("human_requested", "bool_type")
    }


@pytest.mark.parametrize(
    ("contract", "data", "field"),
    [
        (CustomerRequest, CUSTOMER_REQUEST, "text"),
        (IntakeResult, INTAKE_RESULT, "summary"),
        (IntakeResult, INTAKE_RESULT, "pii"),
        (IntakeResult, INTAKE_RESULT, "key_facts"),
        (TriageResult, TRIAGE_RESULT, "confidence"),
        (TriageResult, TRIAGE_RESULT, "category"),
        (TriageResult, TRIAGE_RESULT, "reasons"),
        (ResponderResult, RESPONDER_RESULT, "reply"),
        (FinalResponse, FINAL_RESPONSE, "event_id"),
    ],
)
def test_null_is_rejected(contract: type[Contract], data: dict[str, Any], field: str) -> None:
    assert {loc for loc, _ in error_types(contract, {**data, field: None})} == {field}


def test_an_int_is_accepted_where_a_score_is_expected() -> None:
    """JSON has one number type: a model answering ``"confidence": 1`` is not wrong."""
    assert TriageResult.model_validate({**TRIAGE_RESULT, "confidence": 1}).confidence == 1.0


@pytest.mark.parametrize("score", [-0.01, 1.01])
def test_scores_stay_between_zero_and_one(score: float) -> None:
    assert error_types(TriageResult, {**TRIAGE_RESULT, "confidence": score}) == {
        ("confidence", "greater_than_equal" if score < 0 else "less_than_equal")
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("category", "sales"),
        ("priority", "critical"),
        ("route", "ESCALATE"),
        ("route", "billing"),
    ],
)
def test_enum_fields_only_take_their_values(field: str, value: str) -> None:
    assert error_types(TriageResult, {**TRIAGE_RESULT, field: value}) == {(field, "literal_error")}


FACT = "INV-1234"
# (contract, valid base, field, the largest accepted value, the smallest rejected value)
LIMITS: list[tuple[type[Contract], dict[str, Any], str, object, object]] = [
    (CustomerRequest, CUSTOMER_REQUEST, "text", "x" * MAX_TEXT_CHARS, "x" * (MAX_TEXT_CHARS + 1)),
    (CustomerRequest, CUSTOMER_REQUEST, "customer_id", "c" * 128, "c" * 129),
    (CustomerRequest, CUSTOMER_REQUEST, "channel", "c" * 32, "c" * 33),
    (CustomerRequest, CUSTOMER_REQUEST, "event_id", "e" * 128, "e" * 129),
    (CustomerRequest, CUSTOMER_REQUEST, "subject", "s" * 300, "s" * 301),
    (PiiCounts, {}, "email", 10_000, 10_001),
    (IntakeResult, INTAKE_RESULT, "text", "x" * MAX_TEXT_CHARS, "x" * (MAX_TEXT_CHARS + 1)),
    (IntakeResult, INTAKE_RESULT, "customer_id", "c" * 128, "c" * 129),
    (IntakeResult, INTAKE_RESULT, "summary", "s" * 500, "s" * 501),
    (IntakeResult, INTAKE_RESULT, "key_facts", [FACT] * 10, [FACT] * 11),
    (IntakeResult, INTAKE_RESULT, "key_facts", ["f" * 200], ["f" * 201]),
    (IntakeResult, INTAKE_RESULT, "injection_signals", ["jailbreak"] * 10, ["jailbreak"] * 11),
    (IntakeResult, INTAKE_RESULT, "injection_signals", ["r" * 200], ["r" * 201]),
    (TriageRequest, TRIAGE_REQUEST, "text", "x" * MAX_TEXT_CHARS, "x" * (MAX_TEXT_CHARS + 1)),
    (TriageRequest, TRIAGE_REQUEST, "summary", "s" * 500, "s" * 501),
    (TriageRequest, TRIAGE_REQUEST, "key_facts", [FACT] * 10, [FACT] * 11),
    (TriageResult, TRIAGE_RESULT, "summary", "s" * 500, "s" * 501),
    (TriageResult, TRIAGE_RESULT, "reasons", ["r"] * 10, ["r"] * 11),
    (TriageResult, TRIAGE_RESULT, "reasons", ["r" * 200], ["r" * 201]),
    (TriageResult, TRIAGE_RESULT, "key_facts", [FACT] * 10, [FACT] * 11),
    (ResponderRequest, RESPONDER_REQUEST, "text", "x" * MAX_TEXT_CHARS, "x" * 16_001),
    (ResponderRequest, RESPONDER_REQUEST, "summary", "s" * 500, "s" * 501),
    (ResponderRequest, RESPONDER_REQUEST, "key_facts", [FACT] * 10, [FACT] * 11),
    (ResponderResult, RESPONDER_RESULT, "reply", "r" * 2000, "r" * 2001),
    (ResponderResult, RESPONDER_RESULT, "follow_up_questions", ["Why?"] * 3, ["Why?"] * 4),
    (ResponderResult, RESPONDER_RESULT, "follow_up_questions", ["q" * 300], ["q" * 301]),
    (FinalResponse, FINAL_RESPONSE, "reply", "r" * 2000, "r" * 2001),
    (FinalResponse, FINAL_RESPONSE, "summary", "s" * 500, "s" * 501),
    (FinalResponse, FINAL_RESPONSE, "event_id", "e" * 128, "e" * 129),
]


@pytest.mark.parametrize(
    ("contract", "data", "field", "largest", "too_large"),
    LIMITS,
    ids=[f"{c.__name__}.{f}-{type(ok).__name__}" for c, _, f, ok, _ in LIMITS],
)
def test_every_string_and_list_is_bounded(
    contract: type[Contract], data: dict[str, Any], field: str, largest: object, too_large: object
) -> None:
    contract.model_validate({**data, field: largest})
    assert {loc.split(".")[0] for loc, _ in error_types(contract, {**data, field: too_large})} == {
        field
    }


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_or_blank_text_is_rejected(text: str) -> None:
    assert error_types(CustomerRequest, {"text": text}) == {("text", "string_too_short")}


def test_text_is_stripped_of_surrounding_whitespace() -> None:
    assert CustomerRequest.model_validate({"text": "  My invoice  \n"}).text == "My invoice"


@pytest.mark.parametrize("event_id", ["has space", "slash/id", "semi;colon", ""])
def test_event_ids_are_restricted_to_a_safe_alphabet(event_id: str) -> None:
    assert {
        loc for loc, _ in error_types(CustomerRequest, {"text": "hi", "event_id": event_id})
    } == {"event_id"}


@pytest.mark.parametrize("channel", ["Email", "e mail", "1sms", ""])
def test_channels_are_lowercase_identifiers(channel: str) -> None:
    assert {loc for loc, _ in error_types(CustomerRequest, {"text": "hi", "channel": channel})} == {
        "channel"
    }


@pytest.mark.parametrize("language", ["EN", "eng", "e", "e1"])
def test_languages_are_two_letter_lowercase_codes(language: str) -> None:
    assert {
        loc for loc, _ in error_types(TriageRequest, {**TRIAGE_REQUEST, "language": language})
    } == {"language"}


def test_contracts_are_immutable() -> None:
    result = TriageResult.model_validate(TRIAGE_RESULT)
    with pytest.raises(ValidationError):
        result.route = "escalate"  # type: ignore[misc]


def test_customer_request_defaults_channel_to_api() -> None:
    request = CustomerRequest.model_validate({"text": "hi"})
    assert (request.channel, request.customer_id, request.event_id) == ("api", None, None)


def test_the_reference_pipeline_declares_each_agents_contracts() -> None:
    assert [(a.name, a.input.__name__, a.output.__name__) for a in PIPELINE] == [
        ("intake", "CustomerRequest", "IntakeResult"),
        ("triage", "TriageRequest", "TriageResult"),
        ("responder", "ResponderRequest", "ResponderResult"),
    ]
