"""Comparing a run with a saved one (``--baseline FILE``): which figures regressed beyond their
tolerance.

A baseline is the JSON report of an earlier run (``--save FILE`` or ``--json``). Tolerances come
from :data:`RULES`, then the baseline's own ``"tolerances"`` section, then ``--tolerance
NAME=VALUE`` flags; a value of ``off`` reports the figure without judging it. Kinds of rule:

* ``drop``: a share (0..1) may fall by at most the tolerance (0.02 is two points);
* ``increase``: a count may grow by at most the tolerance;
* ``rise``: a mean may grow by at most the tolerance, relative (0.10 is 10 %);
* ``factor``: a latency may grow to at most tolerance x the baseline, and only a growth of more
  than :data:`LATENCY_SLACK_S` counts, so a noisy machine cannot fail an offline run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from shared.errors import BatonError

Kind = Literal["drop", "increase", "rise", "factor"]
LATENCY_SLACK_S = 1.0
OFF = "off"


class BaselineError(BatonError):
    """A baseline file that cannot be read, or a tolerance that makes no sense (exit 2)."""

    reason = "bad_baseline"


@dataclass(frozen=True)
class Rule:
    path: tuple[str, ...]
    kind: Kind
    tolerance: float | None


RULES: dict[str, Rule] = {
    "routing_accuracy": Rule(("outcome", "routing_accuracy"), "drop", 0.02),
    "category_accuracy": Rule(("outcome", "category_accuracy"), "drop", 0.02),
    "priority_accuracy": Rule(("outcome", "priority_accuracy"), "drop", 0.02),
    "escalation_precision": Rule(("outcome", "escalation_precision"), "drop", 0.02),
    "escalation_recall": Rule(("outcome", "escalation_recall"), "drop", 0.02),
    "contract_pass_rate": Rule(("outcome", "contract_pass_rate"), "drop", 0.02),
    "violations": Rule(("outcome", "violations"), "increase", 0),
    "must_contain_misses": Rule(("outcome", "must_contain_misses"), "increase", 0),
    "dead_lettered": Rule(("outcome", "dead_lettered"), "increase", 0),
    "hops_mean": Rule(("process", "hops", "mean"), "rise", 0.10),
    "llm_calls_mean": Rule(("process", "llm_calls", "mean"), "rise", 0.10),
    "tokens_mean": Rule(("process", "tokens", "mean"), "rise", 0.10),
    "cost_usd_mean": Rule(("process", "cost_usd", "mean"), "rise", 0.10),
    "latency_p95": Rule(("process", "latency_s", "p95"), "factor", 3.0),
}


@dataclass(frozen=True)
class Row:
    metric: str
    kind: Kind
    baseline: float | None
    current: float | None
    tolerance: float | None

    @property
    def regressed(self) -> bool:
        old, new, tol = self.baseline, self.current, self.tolerance
        if old is None or new is None or tol is None:
            return False
        if self.kind == "drop":
            return old - new > tol + 1e-9
        if self.kind == "increase":
            return new - old > tol
        if self.kind == "rise":
            return new > old * (1 + tol) + 1e-9
        return new > old * tol and new - old > LATENCY_SLACK_S

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "rule": self.kind,
            "baseline": self.baseline,
            "current": self.current,
            "tolerance": self.tolerance,
            "regressed": self.regressed,
        }


def load_baseline(path: Path) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc.strerror or exc}") from exc
    except orjson.JSONDecodeError as exc:
        raise BaselineError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("kind") != "baton-eval":
        raise BaselineError(f"{path}: not a `baton eval --save` report")
    return data


def check_selection(baseline: dict[str, Any], selected: list[str]) -> None:
    """Aggregates of different case selections are not comparable: refuse rather than mislead."""
    before = _get(baseline, ("suite", "selected")) or []
    if before != selected:
        shown = ", ".join(before) or "all cases"
        raise BaselineError(f"the baseline ran {shown}; run the same selection to compare")


def tolerances(baseline: dict[str, Any], flags: list[str]) -> dict[str, float | None]:
    """Each rule's tolerance: the default, the baseline's section, then the flags."""
    chosen: dict[str, float | None] = {name: rule.tolerance for name, rule in RULES.items()}
    section = baseline.get("tolerances") or {}
    if not isinstance(section, dict):
        raise BaselineError('the baseline\'s "tolerances" must be an object')
    for name, value in section.items():
        chosen[_known(name)] = _value(name, value)
    for flag in flags:
        name, sep, value = flag.partition("=")
        if not sep:
            raise BaselineError(f"--tolerance {flag!r}: expected NAME=VALUE")
        chosen[_known(name.strip())] = _value(name, value.strip())
    return chosen


def compare(
    current: dict[str, Any], baseline: dict[str, Any], limits: dict[str, float | None]
) -> dict[str, Any]:
    rows = [
        Row(name, rule.kind, _get(baseline, rule.path), _get(current, rule.path), limits[name])
        for name, rule in RULES.items()
    ]
    before = {c["id"]: c["passed"] for c in baseline.get("cases", [])}
    now = {c["id"]: c["passed"] for c in current.get("cases", [])}
    regressions = [r.metric for r in rows if r.regressed]
    return {
        "rows": [r.as_dict() for r in rows],
        "regressions": regressions,
        "newly_failing": sorted(i for i, ok in now.items() if not ok and before.get(i)),
        "newly_passing": sorted(i for i, ok in now.items() if ok and before.get(i) is False),
        "notes": _notes(current, baseline, before, now),
        "ok": not regressions,
    }


def _notes(
    current: dict[str, Any], baseline: dict[str, Any], before: dict[str, bool], now: dict[str, bool]
) -> list[str]:
    notes = []
    if _get(current, ("suite", "sha256")) != _get(baseline, ("suite", "sha256")):
        added, removed = len(now.keys() - before.keys()), len(before.keys() - now.keys())
        notes.append(f"the suite changed since the baseline ({added} cases new, {removed} gone)")
    old, new = _get(baseline, ("run", "provider")), _get(current, ("run", "provider"))
    if old != new:
        notes.append(f"the baseline ran on provider {old}, this run on {new}")
    elif _get(baseline, ("run", "models")) != _get(current, ("run", "models")):
        notes.append("the models differ from the baseline's")
    return notes


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _known(name: str) -> str:
    if name not in RULES:
        raise BaselineError(f"unknown tolerance {name!r}; known: {', '.join(RULES)}")
    return name


def _value(name: str, value: Any) -> float | None:
    if value == OFF or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BaselineError(f"tolerance {name}: {value!r} is not a number or 'off'") from None
    if number < 0:
        raise BaselineError(f"tolerance {name}: must not be negative")
    return number
