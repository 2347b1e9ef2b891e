"""The report of a run: one JSON document (``--json``, ``--save``; also what ``--baseline``
reads), and the tables printed from it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from shared.ops.eval.metrics import summarise
from shared.ops.eval.scoring import CaseResult
from shared.ops.eval.session import RunResult
from shared.ops.eval.suite import LoadedSuite

KIND = "baton-eval"
MAX_FAILED_ROWS = 40
PROCESS_LABELS = {
    "hops": "hops",
    "llm_calls": "LLM calls",
    "retries": "clarification retries",
    "tokens": "tokens",
    "cost_usd": "cost (USD)",
    "latency_s": "latency (s)",
}


def build(
    loaded: LoadedSuite, run: RunResult, results: list[CaseResult], selected: list[str]
) -> dict[str, Any]:
    """The run's report; ``selected`` names the ``--tag``/``--case`` filters, if any."""
    summary = summarise(results)
    return {
        "kind": KIND,
        "version": 1,
        "suite": {
            "path": shown_path(loaded.path),
            "sha256": loaded.sha256,
            "cases": len(loaded.cases),
            "selected": selected,
        },
        "run": run_section(run),
        **summary,
        "failed": [r.case.id for r in results if not r.passed],
        "cases": [r.as_dict() for r in results],
        "ok": summary["outcome"]["lost"] == 0,
    }


def run_section(run: RunResult) -> dict[str, Any]:
    """How a run was made: provider, models, concurrency, when, how long, under which prefix."""
    return {
        "provider": run.provider,
        "models": run.models,
        "concurrency": run.concurrency,
        "started_at": iso(run.started_at),
        "wall_s": round(run.wall_s, 3),
        "prefix": run.prefix,
    }


def shown_path(path: Path) -> str:
    """Relative to the working directory when inside it (a saved report names no home folder)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def render(report: dict[str, Any], console: Console) -> None:
    run, suite, outcome = report["run"], report["suite"], report["outcome"]
    models = ", ".join(f"{k} {v}" for k, v in run["models"].items())
    console.print(
        f"[bold]baton eval[/]: {suite['path']} ({outcome['cases']} of {suite['cases']} cases), "
        f"provider {run['provider']} ({models}), concurrency {run['concurrency']}, "
        f"{run['wall_s']:.2f} s"
    )
    console.print(_outcome_table(outcome))
    console.print(_process_table(report["process"]))
    console.print(_category_table(report["per_category"]))
    failed = [c for c in report["cases"] if not c["passed"]]
    if failed:
        console.print(_failed_table(failed))
    if "comparison" in report:
        console.print(comparison_table(report["comparison"]))
    console.print(verdict(report))


def verdict(report: dict[str, Any]) -> str:
    problems = []
    lost = report["outcome"]["lost"]
    if lost:
        problems.append(f"{lost} event(s) lost (no outcome in time)")
    comparison = report.get("comparison")
    if comparison and comparison["regressions"]:
        problems.append("regressed against the baseline: " + ", ".join(comparison["regressions"]))
    if problems:
        return "[bold red]FAILED[/]: " + "; ".join(problems)
    checked = " and matches the baseline" if comparison else ""
    return f"[bold green]OK[/]: every event reached an outcome{checked}"


def _outcome_table(o: dict[str, Any]) -> Table:
    table = Table(title="Outcome", title_justify="left", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("of", style="dim")
    esc = o["escalations"]
    rows = [
        ("routing accuracy", percent(o["routing_accuracy"]), f"{o['routed_right']}/{o['cases']}"),
        ("category accuracy", percent(o["category_accuracy"]), f"{o['category_checked']} set"),
        ("priority-band accuracy", percent(o["priority_accuracy"]), f"{o['priority_checked']} set"),
        ("mode accuracy", percent(o["mode_accuracy"]), f"{o['mode_checked']} set"),
        ("language accuracy", percent(o["language_accuracy"]), f"{o['language_checked']}"),
        ("escalation precision", percent(o["escalation_precision"]), f"{esc['got']} escalated"),
        ("escalation recall", percent(o["escalation_recall"]), f"{esc['expected']} expected"),
        ("contract pass rate", percent(o["contract_pass_rate"]), f"{o['contract_judged']} outputs"),
        ("injection false alarms", str(o.get("injection_false_alarms", "-")), "not injections"),
        ("forbidden-content violations", str(o["violations"]), ""),
        ("must-contain misses", str(o["must_contain_misses"]), ""),
        ("dead-lettered", str(o["dead_lettered"]), ""),
        ("events lost", str(o["lost"]), "must be 0"),
        ("cases passed", str(o["passed"]), f"of {o['cases']}"),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def _process_table(process: dict[str, dict[str, float | None]]) -> Table:
    table = Table(title="Process, per event", title_justify="left")
    for name in ("figure", "mean", "p95", "total"):
        table.add_column(name, justify="left" if name == "figure" else "right")
    for name, label in PROCESS_LABELS.items():
        figure = process[name]
        digits = 6 if name == "cost_usd" else (3 if name == "latency_s" else 2)
        table.add_row(label, *(_number(figure[k], digits) for k in ("mean", "p95", "total")))
    return table


def _category_table(per_category: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="Per expected category", title_justify="left")
    for name in ("expected", "cases", "routed right", "category right", "priority in band",
                 "passed"):  # fmt: skip
        table.add_column(name, justify="left" if name == "expected" else "right")
    for category, row in per_category.items():
        table.add_row(
            category,
            str(row["cases"]),
            percent(row["routing_accuracy"]),
            percent(row["category_accuracy"]),
            percent(row["priority_accuracy"]),
            str(row["passed"]),
        )
    return table


def _note_hidden(table: Table, total: int) -> None:
    """A last row saying how many of ``total`` rows the table left out (at most
    ``MAX_FAILED_ROWS`` are shown; the JSON report has them all)."""
    if total > MAX_FAILED_ROWS:
        hidden = f"... {total - MAX_FAILED_ROWS} more (see --json)"
        table.add_row(hidden, *([""] * (len(table.columns) - 1)))


def _failed_table(failed: list[dict[str, Any]]) -> Table:
    table = Table(title=f"Failed cases ({len(failed)})", title_justify="left")
    for name in ("case", "expected", "got", "problems"):
        table.add_column(name, overflow="fold")
    for case in failed[:MAX_FAILED_ROWS]:
        problems = "; ".join(case["problems"])
        table.add_row(case["id"], _expected(case["expected"]), _got(case["got"]), problems)
    _note_hidden(table, len(failed))
    return table


def comparison_table(comparison: dict[str, Any]) -> Table:
    table = Table(title="Against the baseline", title_justify="left")
    for name in ("metric", "baseline", "now", "tolerance", ""):
        table.add_column(name, justify="left" if name in ("metric", "") else "right")
    for row in comparison["rows"]:
        mark = "[red]REGRESSED[/]" if row["regressed"] else ""
        if row["tolerance"] is None:
            mark = "[dim]reported only[/]"
        figures = (_figure(row, "baseline"), _figure(row, "current"), _tolerance(row))
        table.add_row(row["metric"], *figures, mark)
    lines = [
        f"{label.replace('_', ' ')}: {', '.join(comparison[label][:20])}"
        for label in ("newly_failing", "newly_passing")
        if comparison[label]
    ]
    lines += [f"note: {note}" for note in comparison["notes"]]
    table.caption = "\n".join(lines) or None
    table.caption_justify = "left"
    return table


def _expected(expect: dict[str, Any]) -> str:
    where = expect["route"] + (f"/{expect['reason']}" if "reason" in expect else "")
    where += f"/{expect['mode']}" if "mode" in expect else ""
    band = "|".join(expect.get("priority", []))
    return " ".join(p for p in (where, expect.get("category", ""), band) if p)


def _got(got: dict[str, Any]) -> str:
    where = got["route"]
    if got["route"] in ("escalation", "dead_letter") and got.get("reason"):
        where += f"/{got['reason']}"
    elif got["route"] == "response" and got.get("mode"):
        where += f"/{got['mode']}"
    return " ".join(p for p in (where, got.get("category") or "", got.get("priority") or "") if p)


def _figure(row: dict[str, Any], key: str) -> str:
    value = row[key]
    if value is None:
        return "n/a"
    if row["rule"] == "drop":
        return percent(value)
    return f"{value:g}" if isinstance(value, int) else f"{value:.4g}"


def _tolerance(row: dict[str, Any]) -> str:
    tol = row["tolerance"]
    if tol is None:
        return "off"
    shown = {"drop": f"-{tol * 100:g} pt", "increase": f"+{tol:g}", "rise": f"+{tol * 100:g}%"}
    return shown.get(row["rule"], f"x{tol:g}")


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def render_shadow(report: dict[str, Any], console: Console) -> None:
    source, run, summary = report["source"], report["run"], report["summary"]
    console.print(
        f"[bold]baton eval --replay[/]: {source['entries']} entries of {source['stream']} "
        f"({source['first_entry']} .. {source['last_entry']}), provider {run['provider']}, "
        f"concurrency {run['concurrency']}, {run['wall_s']:.1f} s"
    )
    table = Table(title="Events", title_justify="left", show_header=False)
    labels = {
        "events": "replayed events",
        "same": "same decisions",
        "differs": "different decisions",
        "no_record": "no live run record (expired?)",
        "live_unfinished": "live run not finished",
        "lost": "lost in the shadow run",
    }
    for key, label in labels.items():
        table.add_row(label, str(summary[key]))
    console.print(table)
    changed = {k: v for k, v in report["changes"].items() if v}
    if changed:
        console.print("changed: " + ", ".join(f"{k} {v}" for k, v in changed.items()))
    console.print(_live_vs_shadow(report["process"]))
    differing = [e for e in report["events"] if e["verdict"] == "differs"]
    if differing:
        console.print(_differences(differing))
    if report["ok"]:
        console.print("[bold green]OK[/]: every replayed event reached an outcome")
    else:
        console.print(f"[bold red]FAILED[/]: {summary['lost']} event(s) lost in the shadow run")


def _live_vs_shadow(process: dict[str, dict[str, dict[str, float | None]]]) -> Table:
    table = Table(title="Process, per event (events both runs finished)", title_justify="left")
    for name in ("figure", "live mean", "shadow mean", "live p95", "shadow p95"):
        table.add_column(name, justify="left" if name == "figure" else "right")
    live, shadow = process["live"], process["shadow"]
    for name, label in PROCESS_LABELS.items():
        digits = 6 if name == "cost_usd" else 3
        cells = [
            _number(side[name][stat], digits) for stat in ("mean", "p95") for side in (live, shadow)
        ]
        table.add_row(label, *cells)
    return table


def _differences(events: list[dict[str, Any]]) -> Table:
    table = Table(title=f"Different decisions ({len(events)})", title_justify="left")
    for name in ("event", "field", "live", "shadow"):
        table.add_column(name, overflow="fold")
    for event in events[:MAX_FAILED_ROWS]:
        for index, field in enumerate(event["changed"]):
            label = event["event_id"] if index == 0 else ""
            table.add_row(label, field, str(event["live"][field]), str(event["shadow"][field]))
    _note_hidden(table, len(events))
    return table
