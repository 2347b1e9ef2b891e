"""Domain checks beyond the typed contracts: what a schema cannot say."""

from __future__ import annotations

import re

from services.intake import prompts as intake_prompts
from services.responder import prompts as responder_prompts
from services.triage import prompts as triage_prompts
from shared.contracts import Contract, IntakeResult, ResponderResult, TriageResult
from shared.prompting import UNTRUSTED_NOTICE
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
SYSTEM_PROMPTS = (
    intake_prompts.SCREEN_SYSTEM,
    triage_prompts.TRIAGE_SYSTEM,
    responder_prompts.RESPONDER_SYSTEM,
    UNTRUSTED_NOTICE,
)
MIN_FRAGMENT_WORDS = 5
_PLACEHOLDER = re.compile(r"\{[a-z_]*\}")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n\s*-\s+")
_SPACE = re.compile(r"\s+")


def _flatten(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def prompt_fragments(prompts: tuple[str, ...] = SYSTEM_PROMPTS) -> tuple[str, ...]:
    """Every sentence (or placeholder-free piece of one) of our system prompts long enough to be
    unmistakable: a reply repeating one verbatim, however reflowed, leaks the instructions."""
    found: list[str] = []
    for prompt in prompts:
        for piece in _PLACEHOLDER.split(prompt):
            for sentence in _SENTENCE_END.split(piece):
                flat = _flatten(sentence).strip("-<>.;:!? ")
                if len(flat.split()) >= MIN_FRAGMENT_WORDS:
                    found.append(flat)
    return tuple(dict.fromkeys(found))


PROMPT_FRAGMENTS = prompt_fragments()


def leaks_instructions(text: str) -> bool:
    flat = _flatten(text)
    return any(m in flat for m in LEAK_MARKERS) or any(f in flat for f in PROMPT_FRAGMENTS)


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
    if leaks_instructions(result.reply):
        problems.append("reply: reveals internal instructions")
    return problems
