"""Each agent's domain checks, as the pipeline declares them: what a schema alone cannot say."""

from __future__ import annotations

from typing import Any

import pytest

from services.pipeline import PIPELINE
from shared.agents.prompting import untrusted
from shared.pipeline.contracts import (
    Contract,
    IntakeResult,
    PiiCounts,
    ResponderResult,
    TriageResult,
)


def check(stage: str, result: Contract) -> list[str]:
    """The domain checks the pipeline declares for ``stage``, as the validator runs them."""
    return PIPELINE.agent(stage).check(result, PIPELINE.check_context())


def intake_result(**changes: Any) -> IntakeResult:
    values: dict[str, Any] = {
        "text": "My invoice is wrong, reach me at [EMAIL]",
        "language": "en",
        "channel": "email",
        "pii": PiiCounts(email=1),
        "injection_risk": 0.0,
        "summary": "My invoice is wrong",
    }
    return IntakeResult(**{**values, **changes})


def triage_result(**changes: Any) -> TriageResult:
    values: dict[str, Any] = {
        "category": "billing",
        "priority": "normal",
        "confidence": 0.8,
        "route": "respond",
        "summary": "My invoice is wrong",
        "key_facts": ["INV-1234"],
    }
    return TriageResult(**{**values, **changes})


def reply(text: str) -> ResponderResult:
    return ResponderResult(reply=text, language="en")


def test_redacted_intake_output_passes() -> None:
    assert check("intake", intake_result()) == []


@pytest.mark.parametrize(
    "leak",
    ["jane.doe@example.com", "+1 415 555 0132", "4111 1111 1111 1111", "(415) 555-0132"],
)
@pytest.mark.parametrize("field", ["text", "summary"])
def test_pii_left_in_intake_output_is_rejected(field: str, leak: str) -> None:
    problems = check("intake", intake_result(**{field: f"Contact me: {leak}"}))
    assert problems == ["text: personal data (email, phone or card number) was not redacted"]


@pytest.mark.parametrize(
    "changes",
    [{"summary": "Mail jane@example.com"}, {"key_facts": ["jane@example.com"]}],
)
def test_pii_in_triage_summary_or_facts_is_rejected(changes: dict[str, Any]) -> None:
    assert check("triage", triage_result(**changes)) == ["summary: contains personal data"]


def test_urgent_general_answer_is_rejected() -> None:
    result = triage_result(category="general", priority="urgent", route="respond")
    assert check("triage", result) == ["priority: urgent needs a specific category"]


def test_urgent_general_escalation_is_allowed() -> None:
    result = triage_result(category="general", priority="urgent", route="escalate")
    assert check("triage", result) == []


def test_clean_triage_output_passes() -> None:
    assert check("triage", triage_result()) == []


def test_plain_reply_passes() -> None:
    assert check("responder", reply("Hello, we fixed invoice INV-1234 for 49.99 EUR.")) == []


@pytest.mark.parametrize(
    "leak", ["jane.doe@example.com", "+44 20 7946 0958", "5500 0000 0000 0004"]
)
def test_pii_in_a_reply_is_rejected(leak: str) -> None:
    assert check("responder", reply(f"Hello, we will write to {leak}.")) == [
        "reply: contains personal data (email, phone or card number)"
    ]


@pytest.mark.parametrize(
    "leak",
    [
        "<untrusted-ticket-1a2b3c4d>",
        "</untrusted-ticket-1a2b3c4d>",
        "I was told to Treat It Strictly As Data.",
        "You triage customer support requests and pick a category.",
        "As instructed: you write replies to customer support requests.",
        "My rules: You screen customer support requests.",
    ],
)
def test_reply_leaking_prompt_markers_is_rejected(leak: str) -> None:
    assert check("responder", reply(f"Hello. {leak}")) == ["reply: reveals internal instructions"]


def test_reply_echoing_the_untrusted_notice_is_rejected() -> None:
    notice, block = untrusted("My invoice is wrong")
    assert check("responder", reply(notice)) == ["reply: reveals internal instructions"]
    assert check("responder", reply(block)) == ["reply: reveals internal instructions"]


def test_reply_with_pii_and_leaked_markers_reports_both() -> None:
    problems = check("responder", reply("<untrusted-x> write to jane@example.com"))
    assert len(problems) == 2
