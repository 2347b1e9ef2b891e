"""Output: the readable tables (rich), the JSON file, and the completeness verdict."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from services.pipeline import PIPELINE
from shared.ops.bench.targets import evaluate

REQUIRED_FIELDS = (
    "meta.settings", "configs", "targets", "completeness", "ok",
    "configs.*.throughput.baton.events_per_s", "configs.*.throughput.raw.events_per_s",
    "configs.*.throughput.ratio.events_per_s", "configs.*.throughput.baton.cpu_us_per_event",
    "configs.*.throughput.baton.redis_commands", "configs.*.throughput.raw.redis_commands",
    "configs.*.latency.baton.latency.p99_ms", "configs.*.latency.raw.latency.p99_ms",
    "configs.*.latency.baton.stages", "configs.*.latency.ratio.p99_ms",
    "configs.*.peak_rss_mib.baton", "llm.points",
)  # fmt: skip
"""Dotted paths every full report has (``*``: every configuration); tests check them."""

_LOOP_FRAMES = (
    "runpy", "base_events.py", "runners.py", "__main__", "run_service", "events.py:Handle._run",
    "shared/service.py:serve", "consumer.py:Worker.run",
)  # fmt: skip


def completeness_checks(result: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, completeness) of every audited run in the report."""
    for name, data in (result.get("configs") or {}).items():
        for kind in ("baton", "raw"):
            for index, run in enumerate(data["throughput"][kind]["runs"], start=1):
                yield f"{name} {kind} drain #{index}", run["complete"]
            yield f"{name} {kind} latency", data["latency"][kind]["complete"]
        if "profile" in data:
            yield f"{name} baton profiled drain", data["profile"]["run"]["complete"]
    for point in (result.get("llm") or {}).get("points") or []:
        yield f"LLM-bound c={point['concurrency']}", point["complete"]


def finish(result: dict[str, Any]) -> dict[str, Any]:
    """Add targets and the completeness verdict to ``result``."""
    checks = list(completeness_checks(result))
    result["completeness"] = [{"run": label, **c} for label, c in checks]
    result["ok"] = bool(checks) and all(c["ok"] for _, c in checks)
    result["targets"] = [t.as_dict() for t in evaluate(result)]
    return result


def missing_fields(result: dict[str, Any]) -> list[str]:
    missing = []
    for path in REQUIRED_FIELDS:
        nodes: list[Any] = [result]
        for key in path.split("."):
            if key == "*":
                nodes = [v for n in nodes if isinstance(n, dict) for v in n.values()]
            else:
                nodes = [n[key] for n in nodes if isinstance(n, dict) and key in n]
        if not nodes or any(n is None for n in nodes):
            missing.append(path)
    return missing


def write_json(result: dict[str, Any], path: Path) -> Path:
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    return path


def _n(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _x(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.2f}x"  # fmt: skip


def _ratio(a: Any, b: Any) -> str:
    try:
        return _x(a / b) if a is not None and b else "-"
    except TypeError:
        return "-"


def header(result: dict[str, Any]) -> str:
    meta, s = result["meta"], result["meta"]["settings"]
    env = meta["worker_env"]
    load = ", ".join(f"{x:.2f}" for x in meta["load_average_start"])
    end = ", ".join(f"{x:.2f}" for x in meta.get("load_average_end", ()))
    return (
        f"baton bench {meta['started_at']} on {meta['host']}: {meta['cpus']} CPUs, Python "
        f"{meta['python']} ({meta.get('event_loop', 'asyncio')}); load average {load} at start, "
        f"{end} at end.\n"
        f"{s['replicas']} process(es) per service; workers run with BATON_LOG_LEVEL="
        f"{env.get('BATON_LOG_LEVEL')} (so logging does not dominate), BATON_LLM="
        f"{env.get('BATON_LLM')}, BATON_CONCURRENCY={env.get('BATON_CONCURRENCY', 'default')}"
        f", BATON_BATCH_SIZE={env.get('BATON_BATCH_SIZE')}.\n"
        f"Drain: {s['events']:,} events preloaded with the workers frozen, median of {s['reps']} "
        f"interleaved repetitions \\[min-max]. Latency: {s['rate']:g} events/s for "
        f"{s['latency_s']:g} s, the first {s['warmup_s']:g} s left out. The machine is shared "
        f"with other developers' test runs: figures are noisy, read ratios rather than absolutes."
    )


def throughput_table(name: str, data: dict[str, Any], events: int) -> Table:
    t = data["throughput"]
    baton, raw, rss = t["baton"], t["raw"], data["peak_rss_mib"]
    table = Table(title=f"Throughput, CPU and memory: {name} (Redis {data['redis_version']}, "
                        f"appendfsync {data['appendfsync']}, drain of {events:,})")  # fmt: skip
    for column in ("", "Baton", "raw ceiling", "Baton/raw"):
        table.add_column(column, justify="left" if not column else "right")
    table.add_row("events/s  median \\[min-max]",
                  f"{_n(baton['events_per_s'])} [{_n(baton['min'])}-{_n(baton['max'])}]",
                  f"{_n(raw['events_per_s'])} [{_n(raw['min'])}-{_n(raw['max'])}]",
                  _x(t["ratio"]["events_per_s"]))  # fmt: skip
    bc, rc = baton["cpu_us_per_event"], raw["cpu_us_per_event"]
    rows = (
        [("CPU us/event, all workers", "workers")]
        + [(f"CPU us/event, {s}", s) for s in PIPELINE.services]
        + [("CPU us/event, Redis", "redis")]
    )
    for label, key in rows:
        table.add_row(label, _n(bc.get(key)), _n(rc.get(key)), _ratio(bc.get(key), rc.get(key)))
    bn, rn = baton.get("redis_commands"), raw.get("redis_commands")
    if bn and rn:
        for label, key in (("Redis commands/event (incl. in scripts)", "calls"),
                           ("Redis us/event inside commands", "usec")):  # fmt: skip
            table.add_row(label, _n(bn[key], 1), _n(rn[key], 1), _ratio(bn[key], rn[key]))
    table.add_row("CPU us per event-hop (workers / 6)", _n(bc["workers"] / 6, 1),
                  _n(rc["workers"] / 6, 1), _ratio(bc["workers"], rc["workers"]))  # fmt: skip
    for service in PIPELINE.services:
        b, r = rss["baton"].get(service), rss["raw"].get(service)
        table.add_row(f"peak RSS MiB, {service}", _n(b, 1), _n(r, 1), _ratio(b, r))
    return table


def latency_table(name: str, data: dict[str, Any]) -> Table:
    lat = data["latency"]
    b, r = lat["baton"], lat["raw"]
    table = Table(title=f"End-to-end latency at {b['rate']:g} events/s: {name} "
                        f"({b['measured']:,} events measured)")  # fmt: skip
    for column in ("", "Baton", "raw ceiling", "Baton/raw"):
        table.add_column(column, justify="left" if not column else "right")
    for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms"):
        table.add_row(
            key.replace("_ms", " ms"),
            _n(b["latency"][key], 2),
            _n(r["latency"][key], 2),
            _ratio(b["latency"][key], r["latency"][key]),
        )
    for key in ("workers", "redis"):
        bv, rv = b["cpu_us_per_event"][key], r["cpu_us_per_event"][key]
        table.add_row(f"CPU us/event at this rate, {key}", _n(bv), _n(rv), _ratio(bv, rv))
    return table


def stages_table(name: str, data: dict[str, Any]) -> Table:
    table = Table(title=f"Per stage (Baton, {name}): time from the previous step's end to this "
                        "step's end (previous commit, read, queue, processing)")  # fmt: skip
    for column in ("hop", "p50 ms", "p90 ms", "p99 ms", "events"):
        table.add_column(column, justify="left" if column == "hop" else "right")
    for label, s in data["latency"]["baton"].get("stages", {}).items():
        table.add_row(label, _n(s["p50_ms"], 2), _n(s["p90_ms"], 2), _n(s["p99_ms"], 2),
                      _n(s["count"]))  # fmt: skip
    return table


def llm_table(llm: dict[str, Any]) -> Table:
    title = (
        f"LLM-bound: fake OpenAI server answering after {llm['delay_ms']:g} ms, "
        f"closed loop of 3 x concurrency events for {llm['seconds']:g} s"
    )
    table = Table(title=title)
    columns = ("concurrency", "events/s", "ideal", "of ideal", "p50 ms", "p99 ms",
               "CPU us/ev workers", "CPU us/ev fake", "peak RSS MiB", "complete")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="right")
    for p in llm["points"]:
        cpu = p["cpu_us_per_event"]
        table.add_row(str(p["concurrency"]), _n(p["events_per_s"], 1),
                      _n(p["ideal_events_per_s"]), f"{p['of_ideal']:.0%}",
                      _n(p["latency"]["p50_ms"], 1), _n(p["latency"]["p99_ms"], 1),
                      _n(cpu["workers"]), _n(cpu.get("fake_openai")),
                      _n(max(p["peak_rss_mib"].values()), 1),
                      "yes" if p["complete"]["ok"] else "NO")  # fmt: skip
    return table


def targets_table(result: dict[str, Any]) -> Table:
    table = Table(title="Targets (read from this run, never asserted)")
    for column in ("target", "goal", "measured", "", "note"):
        table.add_column(column)
    for t in result["targets"]:
        style = {"PASS": "green", "MISS": "red"}.get(t["verdict"], "dim")
        table.add_row(t["name"], t["goal"], t["shown"], f"[{style}]{t['verdict']}[/]", t["note"])
    return table


def completeness_table(result: dict[str, Any]) -> Table:
    table = Table(title="Completeness: every event exactly once, nothing pending")
    for column in ("run", "posted", "arrived", "lost", "duplicated", "pending", "dlq", ""):
        table.add_column(column, justify="left" if column == "run" else "right")
    for c in result["completeness"]:
        table.add_row(
            c["run"],
            _n(c["posted"]),
            _n(c["arrived"]),
            str(c["lost"]),
            str(c["duplicated"]),
            str(c["pending"] + c["unread"]),
            str(c["ended_in"].get("dlq", 0)),
            "ok" if c["ok"] else "[red]FAIL[/]",
        )
    return table


def profile_table(profile: dict[str, Any]) -> Table:
    table = Table(title="Profile (py-spy, extra drain): top functions by inclusive share")
    table.add_column("service")
    table.add_column("functions (share of the process's samples)")
    for role, hot in profile["hottest"].items():
        items = [h for h in hot["inclusive"] if not any(f in h["function"] for f in _LOOP_FRAMES)]
        table.add_row(role, "\n".join(f"{h['share']:.0%} {h['function']}" for h in items[:10]))
    return table


def render(result: dict[str, Any], console: Console) -> None:
    console.print(header(result))
    events = result["meta"]["settings"]["events"]
    for name, data in result["configs"].items():
        console.print(throughput_table(name, data, events))
        console.print(latency_table(name, data))
        console.print(stages_table(name, data))
        if "profile" in data:
            console.print(profile_table(data["profile"]))
    llm = result.get("llm") or {}
    if llm.get("points"):
        console.print(llm_table(llm))
    console.print(targets_table(result))
    console.print(completeness_table(result))
    verdict = "[green]COMPLETE[/]" if result["ok"] else "[red]FAILED: events lost or duplicated[/]"
    console.print(f"Result: {verdict}")
