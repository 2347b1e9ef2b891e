"""Decoding what producers post: every way a raw payload can be wrong gets a reason code."""

from __future__ import annotations

import orjson
import pytest

from shared.errors import ContractError
from shared.pipeline.envelope import Fields
from shared.pipeline.submission import decode_submission, default_event_id, event_id_of

ENTRY_ID = "1700000000000-7"
FALLBACK_ID = f"evt-{ENTRY_ID}"
LIMIT = 65_536


def decode_error(fields: Fields, max_bytes: int = LIMIT) -> ContractError:
    with pytest.raises(ContractError) as caught:
        decode_submission(fields, ENTRY_ID, max_bytes)
    return caught.value


def payload_error(raw: bytes, max_bytes: int = LIMIT) -> ContractError:
    return decode_error({b"payload": raw}, max_bytes)


def test_valid_payload_becomes_a_producer_envelope() -> None:
    raw = orjson.dumps(
        {"text": " My invoice is wrong ", "customer_id": "c-42", "channel": "email",
         "event_id": "e-1"}
    )  # fmt: skip
    envelope = decode_submission({b"payload": raw}, ENTRY_ID, LIMIT)
    assert envelope.event_id == "e-1"
    assert envelope.stage == "producer"
    assert envelope.hops == 0
    assert envelope.payload == {
        "text": "My invoice is wrong",
        "customer_id": "c-42",
        "channel": "email",
        "event_id": "e-1",
    }
    assert envelope.created_at == int(ENTRY_ID.split("-")[0]) / 1000  # when Redis accepted it


def test_payload_without_event_id_gets_one_from_the_entry_id() -> None:
    envelope = decode_submission({b"payload": b'{"text": "hi"}'}, ENTRY_ID, LIMIT)
    assert envelope.event_id == FALLBACK_ID == default_event_id(ENTRY_ID)
    assert envelope.payload == {"text": "hi", "channel": "api"}


def test_payload_of_exactly_the_limit_is_accepted() -> None:
    raw = b'{"text": "' + b"x" * (4096 - 12) + b'"}'
    assert len(raw) == 4096
    assert decode_submission({b"payload": raw}, ENTRY_ID, 4096).event_id == FALLBACK_ID


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"text": "truncated', id="truncated"),
        pytest.param(b'{"text": "hi",}', id="trailing-comma"),
        pytest.param(b"{text: 'hi'}", id="not-json"),
        pytest.param(b'{"text": "hi"} trailing', id="trailing-garbage"),
        pytest.param(b'{"text": "hi"}{"text": "again"}', id="two-documents"),
        pytest.param(b'{"text": "hi", "x": NaN}', id="nan"),
        pytest.param(b'{"text": "hi", "x": Infinity}', id="infinity"),
        pytest.param(b'{"text": "hi", "x": -Infinity}', id="minus-infinity"),
        pytest.param('\ufeff{"text": "hi"}'.encode(), id="bom"),
        pytest.param(b'{"text": "a", "text": "b"}', id="duplicate-keys"),
        pytest.param(b'{"text": "hi", "m": {"k": 1, "k": 2}}', id="nested-duplicate-keys"),
        pytest.param(b"", id="empty-body"),
        pytest.param(b"   \n", id="blank-body"),
        pytest.param(b'{"text": "caf\xe9"}', id="latin-1"),
        pytest.param(b'{"text": "\xff\xfe"}', id="invalid-utf8"),
        pytest.param(b'{"text": "hi", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
                     id="10000-deep-arrays"),
        pytest.param(b'{"a":' * 10_000 + b"1" + b"}" * 10_000, id="10000-deep-objects"),
        pytest.param(b'{"text": "hi", "customer_id": ' + b"9" * 5_000 + b"}",
                     id="5000-digit-integer"),
    ],
)  # fmt: skip
def test_unparseable_payload_is_a_parse_error_with_the_fallback_event_id(raw: bytes) -> None:
    assert len(raw) <= LIMIT
    error = payload_error(raw)
    assert error.reason == "parse_error"
    assert error.event_id == FALLBACK_ID


@pytest.mark.parametrize(
    "raw",
    [
        b'{"event_id": "e-1", "text": "a", "text": "b"}',
        b'{"text": NaN, "channel": "email", "event_id": "e-1"}',
        b'{"text": "\xff", "event_id" : "e-1"}',
        b'{"text": "truncated", "event_id": "e-1", "customer_id": "c',
    ],
    ids=["duplicate-key", "nan", "not-utf8", "truncated"],
)
def test_parse_error_keeps_the_producers_top_level_event_id(raw: bytes) -> None:
    error = payload_error(raw)
    assert (error.reason, error.event_id) == ("parse_error", "e-1")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"event_id": "e-1", "event_id": "e-2"}',
        b'{"meta": {"event_id": "e-1"}, "text": NaN}',
        b'[{"event_id": "e-1"}, NaN]',
        b'{"text": "say \\"event_id\\": \\"e-1\\"", "n": NaN}',
        b'{"text": "event_id", "n": NaN}',
        b'{"event_id": "has spaces", "n": NaN}',
    ],
    ids=["named-twice", "nested", "in-array", "inside-a-string", "a-value", "invalid-id"],
)
def test_parse_error_believes_no_event_id_that_is_ambiguous_nested_or_quoted(raw: bytes) -> None:
    assert payload_error(raw).event_id == FALLBACK_ID


def test_too_large_payload_keeps_the_producers_event_id_wherever_it_sits() -> None:
    text = "x" * (2 * LIMIT)
    for body in ({"event_id": "e-1", "text": text}, {"text": text, "event_id": "e-1"}):
        error = payload_error(orjson.dumps(body))
        assert (error.reason, error.event_id) == ("too_large", "e-1")


def test_event_id_field_beside_the_payload_names_an_event_whose_payload_names_none() -> None:
    raw = orjson.dumps({"text": "hello", "channel": "email"})
    fields: Fields = {b"payload": raw, b"event_id": b"evt-1600000000000-0"}
    assert decode_submission(fields, ENTRY_ID, LIMIT).event_id == "evt-1600000000000-0"
    named = orjson.dumps({"text": "hello", "channel": "email", "event_id": "e-1"})
    assert decode_submission({**fields, b"payload": named}, ENTRY_ID, LIMIT).event_id == "e-1"
    too_large = b'{"text": "' + b"x" * LIMIT + b'"}'
    assert payload_error(too_large).event_id == FALLBACK_ID
    assert decode_error({**fields, b"payload": too_large}).event_id == "evt-1600000000000-0"


def test_event_id_of_names_the_event_as_intake_will() -> None:
    ok = orjson.dumps({"text": "hello", "channel": "email", "event_id": "e-1"})
    assert event_id_of({b"payload": ok}, ENTRY_ID, LIMIT) == "e-1"
    assert event_id_of({b"payload": b'{"event_id": "e-2", "x": NaN}'}, ENTRY_ID, LIMIT) == "e-2"
    assert event_id_of({b"payload": b"not json"}, ENTRY_ID, LIMIT) == FALLBACK_ID
    assert event_id_of({b"other": b"x"}, ENTRY_ID, LIMIT) == FALLBACK_ID


def test_parse_error_keeps_the_raw_text() -> None:
    assert payload_error(b'{"text": "truncated').raw == '{"text": "truncated'


def test_invalid_utf8_is_reported_with_its_byte_offset() -> None:
    error = payload_error(b'{"text": "\xff"}')
    assert "byte 10" in error.detail


@pytest.mark.parametrize("size", [LIMIT + 1, 3 * LIMIT])
def test_payload_over_64_kib_is_too_large(size: int) -> None:
    raw = b'{"text": "' + b"x" * (size - 12) + b'"}'
    assert len(raw) == size
    error = payload_error(raw)
    assert (error.reason, error.event_id) == ("too_large", FALLBACK_ID)
    assert error.raw is not None
    assert len(error.raw) <= 1024


def test_oversized_payload_is_rejected_before_parsing() -> None:
    error = payload_error(b"\xff" * (LIMIT + 1))
    assert error.reason == "too_large"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param({}, "text", id="missing-text"),
        pytest.param({"customer_id": "c-1"}, "text", id="only-customer"),
        pytest.param({"text": ""}, "text", id="empty-text"),
        pytest.param({"text": "   \n\t"}, "text", id="whitespace-text"),
        pytest.param({"text": 42}, "text", id="number-text"),
        pytest.param({"text": ["hi"]}, "text", id="list-text"),
        pytest.param({"text": None}, "text", id="null-text"),
        pytest.param({"text": "hi", "customer_id": 42}, "customer_id", id="number-customer"),
        pytest.param({"text": "hi", "channel": "E-Mail"}, "channel", id="bad-channel"),
        pytest.param({"text": "hi", "channel": True}, "channel", id="bool-channel"),
        pytest.param({"text": "hi", "subject": "s" * 301}, "subject", id="long-subject"),
        pytest.param({"text": "hi", "priority": "urgent"}, "priority", id="unknown-field"),
        pytest.param({"text": "x" * 16_001}, "text", id="text-over-limit"),
    ],
)
def test_payload_breaking_the_request_contract_keeps_the_given_event_id(
    data: dict[str, object], field: str
) -> None:
    raw = orjson.dumps({**data, "event_id": "e-given"})
    error = payload_error(raw)
    assert error.reason == "contract_violation"
    assert error.event_id == "e-given"
    assert [e["loc"] for e in error.errors] == [field]
    assert error.raw == raw.decode()


def test_contract_violation_without_event_id_uses_the_entry_id() -> None:
    error = payload_error(b'{"text": ""}')
    assert (error.reason, error.event_id) == ("contract_violation", FALLBACK_ID)


@pytest.mark.parametrize("event_id", ["has space", 42, "x" * 129])
def test_an_invalid_event_id_is_not_used_to_name_the_event(event_id: object) -> None:
    error = payload_error(orjson.dumps({"text": "hi", "event_id": event_id}))
    assert (error.reason, error.event_id) == ("contract_violation", FALLBACK_ID)
    assert [e["loc"] for e in error.errors] == ["event_id"]


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"null", b"42", b"true"])
def test_json_that_is_not_an_object_is_a_contract_violation(raw: bytes) -> None:
    error = payload_error(raw)
    assert (error.reason, error.event_id) == ("contract_violation", FALLBACK_ID)


def test_missing_payload_field_is_a_contract_violation_naming_the_fields_seen() -> None:
    error = decode_error({b"text": b"My invoice is wrong"})
    assert (error.reason, error.event_id) == ("contract_violation", FALLBACK_ID)
    assert "payload" in error.detail
    assert error.raw is not None
    assert "text=" in error.raw


def test_errors_name_fields_without_echoing_customer_text() -> None:
    error = payload_error(orjson.dumps({"text": "hi", "customer_id": 42, "x": "jane@example.com"}))
    assert "jane@example.com" not in orjson.dumps(error.errors).decode()
    assert "jane@example.com" not in error.detail


@pytest.mark.parametrize(
    "fields",
    [
        {b"payload": b'{"text": "hi", "event_id": "ok-1"}'},
        {b"payload": b'{"text": "a", "text": "b", "event_id": "dup-other"}'},
        {b"payload": b'{"text": "hi", "event_id": "caf\xc3\xa9-1"}'},
        {b"payload": b'{"meta": {"event_id": "nested"}, "text": "hi"}'},
        {b"payload": b'{"text": "hi", "n": 123456789012345678901234567890, "event_id": "big-n"}'},
        {b"payload": b'{"text": "hi"}'},
        {b"payload": b'{"text": "", "event_id": "empty-1"}'},
        {b"payload": b'{"text": "hi", "event_id": "bad id"}'},
        {b"payload": b'{"text": "hi", "route": "x", "event_id": "extra-1"}'},
        {b"payload": b'{"event_id": "dup", "event_id": "dup2"}'},
        {b"payload": b'{"text": NaN, "event_id": "nan-1"}'},
        {b"payload": b"\xff\xfe"},
        {b"payload": b'{"text": "hi", "event_id": 7}'},
        {b"payload": b'["event_id", "x"]'},
        {b"payload": b'{"event_id": "big-1", "text": "' + b"x" * LIMIT + b'"}'},
        {b"payload": b'{"text": "hi"}', b"event_id": b"beside-1"},
        {b"other": b"x"},
    ],
)
def test_event_id_of_agrees_with_what_intake_decodes(fields: Fields) -> None:
    try:
        expected = decode_submission(fields, ENTRY_ID, LIMIT).event_id
    except ContractError as exc:
        expected = exc.event_id or FALLBACK_ID
    assert event_id_of(fields, ENTRY_ID, LIMIT) == expected
