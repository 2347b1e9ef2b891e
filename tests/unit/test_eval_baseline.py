"""Comparing a run with a saved baseline: each rule, the tolerances' precedence, and the notes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared.ops.eval.baseline import (
    LATENCY_SLACK_S,
    RULES,
    BaselineError,
    Row,
    check_selection,
    compare,
    load_baseline,
    tolerances,
)


def report(**figures: Any) -> dict[str, Any]:
    """A report with every compared figure, overridable as ``routing_accuracy=0.9``."""
    outcome = {"routing_accuracy": 0.9, "category_accuracy": 0.9, "priority_accuracy": 0.8,
               "escalation_precision": 0.9, "escalation_recall": 0.9, "contract_pass_rate": 1.0,
               "violations": 0, "must_contain_misses": 0, "dead_lettered": 0}  # fmt: skip
    process = {"hops": 5.0, "llm_calls": 2.5, "tokens": 800.0, "cost_usd": 0.01}
    values = {**outcome, **{f"{k}_mean": v for k, v in process.items()}, "latency_p95": 0.05}
    values.update(figures)
    return {
        "kind": "baton-eval",
        "suite": {"sha256": "abc", "selected": []},
        "run": {"provider": "offline", "models": {"triage": "m"}},
        "outcome": {k: values[k] for k in outcome},
        "process": {
            **{k: {"mean": values[f"{k}_mean"]} for k in process},
            "latency_s": {"p95": values["latency_p95"]},
        },
        "cases": [{"id": "a", "passed": True}, {"id": "b", "passed": False}],
    }


DEFAULTS = {name: rule.tolerance for name, rule in RULES.items()}


def regressions(now: dict[str, Any], before: dict[str, Any] | None = None) -> list[str]:
    result: list[str] = compare(now, before or report(), DEFAULTS)["regressions"]
    return result


def test_an_identical_run_has_no_regression() -> None:
    comparison = compare(report(), report(), DEFAULTS)
    assert comparison["ok"] is True
    assert comparison["notes"] == []
    assert len(comparison["rows"]) == len(RULES)


@pytest.mark.parametrize(
    ("changed", "regressed"),
    [
        ({"routing_accuracy": 0.885}, []),  # 1.5 points: within 2
        ({"routing_accuracy": 0.87}, ["routing_accuracy"]),  # 3 points
        ({"escalation_recall": 0.85}, ["escalation_recall"]),
        ({"violations": 1}, ["violations"]),  # may not increase at all
        ({"dead_lettered": 1}, ["dead_lettered"]),
        ({"tokens_mean": 880.0}, []),  # +10 %: at the limit
        ({"tokens_mean": 881.0}, ["tokens_mean"]),
        ({"hops_mean": 4.0, "routing_accuracy": 0.95}, []),  # better is never a regression
        ({"latency_p95": 0.5}, []),  # 10x, but well under the slack: noise
        ({"latency_p95": 0.05 * 3 + LATENCY_SLACK_S + 0.01}, ["latency_p95"]),
        ({"escalation_precision": None}, []),  # nothing escalated: not comparable
    ],
)
def test_each_rule_flags_only_a_change_beyond_its_tolerance(
    changed: dict[str, Any], regressed: list[str]
) -> None:
    assert regressions(report(**changed)) == regressed


def test_a_zero_cost_baseline_regresses_on_any_spend() -> None:
    free = report(cost_usd_mean=0.0)
    assert regressions(report(cost_usd_mean=0.001), free) == ["cost_usd_mean"]


def test_tolerances_come_from_defaults_then_the_baseline_then_the_flags() -> None:
    baseline = {**report(), "tolerances": {"routing_accuracy": 0.05, "latency_p95": "off"}}
    chosen = tolerances(baseline, ["routing_accuracy=0.1", "tokens_mean = 0.5"])
    assert chosen["routing_accuracy"] == 0.1
    assert chosen["tokens_mean"] == 0.5
    assert chosen["latency_p95"] is None
    assert chosen["violations"] == 0
    row = Row("latency_p95", "factor", 0.01, 100.0, chosen["latency_p95"])
    assert not row.regressed  # reported only


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("speed=3", "unknown tolerance 'speed'"),
        ("tokens_mean", "expected NAME=VALUE"),
        ("tokens_mean=lots", "is not a number or 'off'"),
        ("tokens_mean=-1", "must not be negative"),
    ],
)
def test_a_bad_tolerance_is_refused(flag: str, message: str) -> None:
    with pytest.raises(BaselineError, match=message):
        tolerances(report(), [flag])


def test_changed_cases_suite_and_provider_are_noted() -> None:
    before = report()
    now = report()
    now["suite"]["sha256"] = "def"
    now["run"]["provider"] = "openai"
    now["cases"] = [{"id": "a", "passed": False}, {"id": "b", "passed": True},
                    {"id": "c", "passed": True}]  # fmt: skip
    comparison = compare(now, before, DEFAULTS)
    assert comparison["newly_failing"] == ["a"]
    assert comparison["newly_passing"] == ["b"]
    assert comparison["notes"] == [
        "the suite changed since the baseline (1 cases new, 0 gone)",
        "the baseline ran on provider offline, this run on openai",
    ]


def test_a_baseline_of_another_selection_cannot_be_compared() -> None:
    check_selection(report(), [])
    with pytest.raises(BaselineError, match="the baseline ran all cases"):
        check_selection(report(), ["tag:billing"])


def test_a_file_that_is_not_a_saved_report_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('{"outcome": {}}')
    with pytest.raises(BaselineError, match="not a `baton eval --save` report"):
        load_baseline(path)
    path.write_text("{")
    with pytest.raises(BaselineError, match="not JSON"):
        load_baseline(path)
    with pytest.raises(BaselineError, match="cannot read baseline"):
        load_baseline(tmp_path / "missing.json")
