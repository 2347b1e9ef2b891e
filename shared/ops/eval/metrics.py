"""The figures of a run, from its per-case results: outcome metrics (did each event reach the
right place, was the reply acceptable) and process metrics (what it took). Pure functions.

A ratio with nothing to count (no escalations expected, say) is None (``null`` in JSON).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from shared.ops.bench.stats import percentile
from shared.ops.eval.scoring import CaseResult
from shared.ops.eval.trajectory import Trajectory
from shared.pipeline.contracts import CATEGORIES

UNSPECIFIED = "(unspecified)"  # cases that name no category
ROUTE_ORDER = ("response", "escalation", "dead_letter", "lost")
INJECTION = "prompt_injection_suspected"
"""Escalated as an injection although the case is none: a false alarm, counted on its own."""

Sample = tuple[Trajectory, float | None]  # one ended event: its trajectory and latency
PROCESS: dict[str, Callable[[Sample], float | None]] = {
    "hops": lambda s: s[0].hops,
    "llm_calls": lambda s: s[0].llm_calls,
    "retries": lambda s: s[0].retries,
    "tokens": lambda s: s[0].tokens,
    "cost_usd": lambda s: s[0].cost_usd,
    "latency_s": lambda s: s[1],
}


def summarise(results: Sequence[CaseResult]) -> dict[str, Any]:
    return {
        "outcome": outcome(results),
        "per_category": per_category(results),
        "process": process([(r.trajectory, r.latency_s) for r in results if not r.lost]),
    }


def outcome(results: Sequence[CaseResult]) -> dict[str, Any]:
    expected = [r for r in results if r.expected_escalation]
    escalated = [r for r in results if r.route == "escalation"]
    right = sum(r.expected_escalation for r in escalated)
    judged = sum(r.trajectory.judged for r in results)
    routes = Counter(r.route for r in results)
    return {
        "cases": len(results),
        "passed": sum(r.passed for r in results),
        "routed_right": sum(r.routed for r in results),
        "routing_accuracy": ratio(sum(r.routed for r in results), len(results)),
        **_check("category", [r.category_ok for r in results]),
        **_check("priority", [r.priority_ok for r in results]),
        **_check("mode", [r.mode_ok for r in results]),
        **_check("language", [r.language_ok for r in results]),
        "escalation_precision": ratio(right, len(escalated)),
        "escalation_recall": ratio(right, len(expected)),
        "escalations": {"expected": len(expected), "got": len(escalated), "right": right},
        "contract_pass_rate": ratio(sum(r.trajectory.passed for r in results), judged),
        "contract_judged": judged,
        "injection_false_alarms": sum(
            r.decisions.reason == INJECTION and getattr(r.case.expect, "reason", None) != INJECTION
            for r in results
        ),
        "violations": sum(len(r.violations) for r in results),
        "must_contain_misses": sum(len(r.misses) for r in results),
        "dead_lettered": routes["dead_letter"],
        "lost": routes["lost"],
        "routes": {name: routes[name] for name in ROUTE_ORDER},
    }


def per_category(results: Sequence[CaseResult]) -> dict[str, dict[str, Any]]:
    """Outcome figures per expected category, in the contract's order."""
    groups: dict[str, list[CaseResult]] = {}
    for result in results:
        groups.setdefault(result.case.expect.category or UNSPECIFIED, []).append(result)
    order = [*CATEGORIES, UNSPECIFIED]
    return {
        name: {
            "cases": len(group),
            "passed": sum(r.passed for r in group),
            "routed_right": sum(r.routed for r in group),
            "routing_accuracy": ratio(sum(r.routed for r in group), len(group)),
            **_check("category", [r.category_ok for r in group]),
            **_check("priority", [r.priority_ok for r in group]),
        }
        for name in order
        if (group := groups.get(name))
    }


def process(samples: Sequence[Sample]) -> dict[str, dict[str, float | None]]:
    """Mean, p95 and total of each figure over events that ended (lost ones have no figures)."""
    figures: dict[str, dict[str, float | None]] = {}
    for name, figure in PROCESS.items():
        values = [v for v in (figure(s) for s in samples) if v is not None]
        digits = 8 if name == "cost_usd" else 4
        figures[name] = {
            "mean": round(sum(values) / len(values), digits) if values else None,
            "p95": round(percentile(values, 95), digits) if values else None,
            "total": round(sum(values), digits) if name != "latency_s" else None,
        }
    return figures


def ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _check(name: str, oks: list[bool | None]) -> dict[str, Any]:
    checked = [ok for ok in oks if ok is not None]
    return {
        f"{name}_accuracy": ratio(sum(checked), len(checked)),
        f"{name}_checked": len(checked),
    }
