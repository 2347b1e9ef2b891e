"""The evaluation suite file: strict schema, readable errors, and a committed JSON Schema."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

from shared.ops.eval.suite import (
    DEFAULT_SUITE,
    SCHEMA_FILE,
    ExpectEscalation,
    ExpectResponse,
    SuiteError,
    json_schema,
    load_suite,
)

MINI = Path(__file__).parents[1] / "fixtures" / "eval-mini.toml"


def case(top: str = "", expect: str = "") -> str:
    """A valid case, with extra lines at its top level or in its ``expect`` table."""
    return f"""
[[cases]]
id = "billing-one"
channel = "email"
language = "en"
text = "My invoice is wrong"
{top}
[cases.expect]
route = "response"
{expect}
"""


GOOD_CASE = case()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(text)
    return path


def test_the_committed_json_schema_is_the_models_schema() -> None:
    assert SCHEMA_FILE.read_text() == json_schema(), (
        "suite.schema.json is stale: run `python -m shared.ops.eval.suite --write`"
    )


@pytest.mark.parametrize("path", [MINI, DEFAULT_SUITE], ids=["fixture", "default"])
def test_suites_in_the_repository_load_and_satisfy_the_json_schema(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path.name} is not committed yet")
    loaded = load_suite(path)
    assert loaded.cases
    jsonschema.validate(tomllib.loads(path.read_text()), json.loads(SCHEMA_FILE.read_text()))


def test_a_case_becomes_the_payload_a_producer_would_post() -> None:
    suite = load_suite(MINI).suite
    case = next(c for c in suite.cases if c.id == "refund-card-number")
    assert case.payload() == {
        "text": case.text,
        "channel": "chat",
        "customer_id": "c-77",
        "event_id": "refund-card-number",
    }
    assert isinstance(case.expect, ExpectResponse)
    legal = next(c for c in suite.cases if c.id == "legal-threat")
    assert isinstance(legal.expect, ExpectEscalation)
    assert legal.expect.reason == "sensitive_topic"


def test_errors_name_the_case_and_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, """version = 1
[[cases]]
id = "legal-one"
channel = "fax"
language = "en"
text = "I will sue"
[cases.expect]
route = "escalation"
mode = "answer"
""")  # fmt: skip
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    message = caught.value.detail
    assert "case 'legal-one' (cases[0]) channel: Input should be 'email'" in message
    assert "case 'legal-one' (cases[0]) expect.reason: Field required" in message
    assert "case 'legal-one' (cases[0]) expect.mode: Extra inputs are not permitted" in message


@pytest.mark.parametrize(
    ("top", "expect", "expected"),
    [
        ("bogus = 1", "", "bogus: Extra inputs are not permitted"),
        ("", 'priority = ["low", "low"]', "expect.priority: Value error, lists a priority twice"),
        ("", "priority = []", "expect.priority: List should have at least 1 item"),
        ("", 'category = "gardening"', "expect.category: Input should be 'billing'"),
        ("", 'reason = "low_confidence"', "expect.reason: Extra inputs are not permitted"),
        ("", 'must_contain = [""]', "expect.must_contain.0: String should have at least 1"),
    ],
)
def test_unknown_keys_and_bad_values_are_rejected(
    tmp_path: Path, top: str, expect: str, expected: str
) -> None:
    with pytest.raises(SuiteError, match="problem") as caught:
        load_suite(write(tmp_path, "version = 1\n" + case(top, expect)))
    assert expected in caught.value.detail


def test_case_ids_must_be_unique(tmp_path: Path) -> None:
    path = write(tmp_path, "version = 1\n" + GOOD_CASE + GOOD_CASE)
    with pytest.raises(SuiteError, match="case ids must be unique; repeated: billing-one"):
        load_suite(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version = 2\n" + GOOD_CASE, "version: Input should be 1"),
        ("version = 1\n", "cases: Field required"),
        ("version = 1\ncases = [\n", "not valid TOML"),
    ],
)
def test_a_broken_file_is_a_suite_error(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(SuiteError, match=expected):
        load_suite(write(tmp_path, text))


def test_a_missing_file_is_a_suite_error(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="cannot read suite"):
        load_suite(tmp_path / "nope.toml")


def test_the_committed_offline_baseline_was_made_from_the_committed_suite() -> None:
    baseline = json.loads((SCHEMA_FILE.parent / "baseline-offline.json").read_text())
    assert baseline["suite"]["sha256"] == load_suite(DEFAULT_SUITE).sha256, (
        "default.toml changed: re-save the baseline (see docs/evaluation.md)"
    )
    assert baseline["run"]["provider"] == "offline"
    assert baseline["suite"]["selected"] == []
