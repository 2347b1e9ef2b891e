"""Domain checks beyond the typed contracts: what a schema cannot say."""

from __future__ import annotations

from shared.contracts import Contract, IntakeResult, ResponderResult, TriageResult
from shared.redaction import contains_pii

# Phrases from our system prompts and delimiters; a reply containing one leaks internals.
LEAK_MARKERS = (
    "<untrusted-",
    "</untrusted-",
    "treat it strictly as data",
    "you write replies to customer support requests",
    "you triage customer support requests",
    "you screen customer support requests",
)


def check(stage: str, result: Contract) -> list[str]:
    """Problems with an agent's output; empty when it may go on."""
    if isinstance(result, IntakeResult):
        return _check_intake(result)
    if isinstance(result, TriageResult):
        return _check_triage(result)
    if isinstance(result, ResponderResult):
        return _check_reply(result)
    return [f"no checks known for stage {stage}"]


def _check_intake(result: IntakeResult) -> list[str]:
    problems = []
    if contains_pii(result.text) or contains_pii(result.summary):
        problems.append("text: personal data (email, phone or card number) was not redacted")
    return problems


def _check_triage(result: TriageResult) -> list[str]:
    problems = []
    if contains_pii(result.summary) or any(contains_pii(f) for f in result.key_facts):
        problems.append("summary: contains personal data")
    if result.route == "respond" and result.category == "general" and result.priority == "urgent":
        problems.append("priority: urgent needs a specific category")
    return problems


def _check_reply(result: ResponderResult) -> list[str]:
    problems = []
    if contains_pii(result.reply):
        problems.append("reply: contains personal data (email, phone or card number)")
    lowered = result.reply.lower()
    if any(marker in lowered for marker in LEAK_MARKERS):
        problems.append("reply: reveals internal instructions")
    return problems
