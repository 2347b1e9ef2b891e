"""The review panel's verdict (services/reviewer/routing.py): agreement goes on with the
majority, disagreement goes to a human, and only a unanimous panel overturns a sensitive call."""

from __future__ import annotations

from typing import Any

import pytest

from services.reviewer import rules
from services.reviewer.routing import merge
from services.validator.settings import ValidatorSettings
from shared.pipeline.contracts import ReviewRequest
from shared.pipeline.join import JoinResult
from shared.pipeline.routing import Escalate, Forward, RouteContext

SETTINGS = ValidatorSettings(validator_panel_agreement=0.75)
INTAKE = {"text": "t", "language": "en", "summary": "s"}


def opinion(category: str, escalate: bool = False) -> dict[str, Any]:
    return {"category": category, "confidence": 0.8, "escalate": escalate, "rationale": "r"}


def verdict(triage_category: str, *opinions: dict[str, Any]) -> str:
    triage = {"category": triage_category, "priority": "normal", "summary": "s"}
    context = RouteContext("e-1", {"intake": INTAKE, "triage": triage}, {}, 0, SETTINGS)
    decision = merge(JoinResult("panel", tuple(opinions)), context)
    if isinstance(decision, Escalate):
        return f"escalate:{decision.reason}"
    assert isinstance(decision, Forward)
    return f"{decision.target}:{decision.payload.category}"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("triage", "opinions", "expected"),
    [
        ("billing", ("billing", "billing", "billing"), "responder:billing"),
        ("billing", ("account", "account", "account"), "responder:account"),
        ("billing", ("billing", "account", "billing"), "escalate:low_confidence"),
        ("legal", ("legal", "legal", "billing"), "escalate:sensitive_topic"),
        ("legal", ("billing", "billing", "legal"), "escalate:sensitive_topic"),
        ("legal", ("billing", "billing", "billing"), "responder:billing"),
        ("billing", ("legal", "legal", "legal"), "escalate:sensitive_topic"),
    ],
    ids=["agree", "agree-elsewhere", "torn", "sensitive-confirmed", "sensitive-2-of-3",
         "sensitive-unanimous-overturn", "panel-finds-sensitive"],
)  # fmt: skip
def test_the_panel_verdict(triage: str, opinions: tuple[str, ...], expected: str) -> None:
    assert verdict(triage, *(opinion(c) for c in opinions)) == expected


def test_a_panel_agreeing_a_human_should_take_it_escalates() -> None:
    opinions = [opinion("general", escalate=True)] * 3
    assert verdict("general", *opinions) == "escalate:low_confidence"


def test_offline_panelists_agree_on_a_clear_request_and_differ_on_a_torn_one() -> None:
    def panel(text: str) -> set[str]:
        requests = [
            ReviewRequest(text=text, language="en", summary="", panelist=n) for n in range(3)
        ]
        return {rules.review(r, ("legal",)).category for r in requests}

    assert panel("My lawyer will sue you over this contract.") == {"legal"}
    assert len(panel("Something is off with my account and with the last charge.")) == 2
