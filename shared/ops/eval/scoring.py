"""One case against its expectation: was the event routed right, was the reply acceptable, and
what did it cost. Pure functions of the case and what the pipeline made of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.agents.redaction import contains_pii
from shared.ops.eval.collect import Decisions, Observed
from shared.ops.eval.suite import Case, ExpectEscalation
from shared.ops.eval.trajectory import Trajectory, trajectory

CUSTOMER_TEXT = "packet.text"
ROUTES = {"responded": "response", "escalated": "escalation", "dead_lettered": "dead_letter"}


@dataclass(frozen=True)
class CaseResult:
    """Attributes:
    route: where the event ended: ``response``, ``escalation``, ``dead_letter`` or ``lost``.
    way_ok: the route matches, with the escalation reason or the response's mode (if expected).
    category_ok / priority_ok / mode_ok: each check on its own; None when the case sets none.
    violations: ``must_not_contain`` strings found, with where (``reply``, ``packet.summary``,
        ...; in ``packet.text``, the customer's own words, only personal data counts).
    misses: ``must_contain`` strings missing from the output.
    latency_s: post to final outcome; None when the event never ended.
    """

    case: Case
    decisions: Decisions
    route: str
    way_ok: bool
    category_ok: bool | None
    priority_ok: bool | None
    mode_ok: bool | None
    language_ok: bool
    violations: list[dict[str, str]] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    trajectory: Trajectory = field(default_factory=Trajectory)
    latency_s: float | None = None
    output: str | None = None
    detail: str | None = None

    @property
    def routed(self) -> bool:
        """Routed right: the right way, and the right category when the case names one."""
        return self.way_ok and self.category_ok is not False

    @property
    def expected_escalation(self) -> bool:
        return isinstance(self.case.expect, ExpectEscalation)

    @property
    def lost(self) -> bool:
        return self.route == "lost"

    @property
    def passed(self) -> bool:
        checks = (self.category_ok, self.priority_ok, self.mode_ok)
        return (
            self.routed
            and self.language_ok
            and all(c is not False for c in checks)
            and not self.violations
            and not self.misses
        )

    def problems(self) -> list[str]:
        """Why the case failed, one short phrase each."""
        found = [] if self.way_ok else ["route"]
        if self.category_ok is False:
            found.append("category")
        if self.priority_ok is False:
            found.append("priority")
        if not self.language_ok and self.decisions.language is not None:
            found.append("language")
        found += [f"contains {v['text']!r} ({v['where']})" for v in self.violations]
        found += [f"lacks {m!r}" for m in self.misses]
        return found

    def got(self) -> dict[str, Any]:
        """Where the event ended and what was decided on the way (``triage_route``: triage's
        own choice of respond, clarify or escalate)."""
        d = self.decisions
        return {
            "route": self.route,
            "status": d.status,
            "reason": d.reason,
            "category": d.category,
            "priority": d.priority,
            "triage_route": d.route,
            "mode": d.mode,
            "language": d.language,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.case.id,
            "tags": self.case.tags,
            "passed": self.passed,
            "expected": self.case.expect.model_dump(mode="json", exclude_defaults=True),
            "got": self.got(),
            "checks": {
                "routed": self.routed,
                "route": self.way_ok,
                "category": self.category_ok,
                "priority": self.priority_ok,
                "mode": self.mode_ok,
                "language": self.language_ok,
            },
            "problems": self.problems(),
            "violations": self.violations,
            "misses": self.misses,
            "process": {**self.trajectory.as_dict(), "latency_s": _round(self.latency_s)},
            "output": self.output,
            "detail": self.detail,
        }


def score(case: Case, observed: Observed) -> CaseResult:
    decisions = Decisions.of(observed)
    expect = case.expect
    route = ROUTES.get(observed.status, "lost")
    category_ok = None if expect.category is None else decisions.category == expect.category
    priority_ok = None if expect.priority is None else decisions.priority in expect.priority
    if isinstance(expect, ExpectEscalation):
        mode_ok = None
        right_way = route == "escalation" and decisions.reason == expect.reason
    else:
        mode_ok = None if expect.mode is None else decisions.mode == expect.mode
        right_way = route == "response" and mode_ok is not False
    texts = _outputs(observed)
    return CaseResult(
        case=case,
        decisions=decisions,
        route=route,
        way_ok=right_way,
        category_ok=category_ok,
        priority_ok=priority_ok,
        mode_ok=mode_ok,
        language_ok=decisions.language == case.language,
        violations=_violations(expect.must_not_contain, texts),
        misses=[
            needle
            for needle in expect.must_contain
            if not any(needle.lower() in text.lower() for text in texts.values())
        ],
        trajectory=trajectory(observed.steps),
        latency_s=observed.latency_s,
        output=texts.get("reply") or texts.get("packet.summary"),
        detail=(observed.dead_letter or {}).get("detail"),
    )


def _violations(forbidden: list[str], texts: dict[str, str]) -> list[dict[str, str]]:
    """Forbidden strings found, and where. The packet's ``text`` is the customer's own request
    (redacted), kept for the operator: there only personal data counts, since redacting it is
    the pipeline's job, while a phrase the customer wrote ("system prompt") is evidence, not a
    leak. Everything the agents wrote (reply, summary, draft) is held to every string."""
    return [
        {"text": needle, "where": where}
        for needle in forbidden
        for where, text in texts.items()
        if needle.lower() in text.lower() and (where != CUSTOMER_TEXT or contains_pii(needle))
    ]


def _outputs(observed: Observed) -> dict[str, str]:
    """What the event produced that a customer or an operator reads."""
    if observed.response is not None:
        return {"reply": str(observed.response.get("reply") or "")}
    if observed.packet is not None:
        names = ("text", "summary", "draft")
        return {f"packet.{n}": str(observed.packet[n]) for n in names if observed.packet.get(n)}
    return {}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
