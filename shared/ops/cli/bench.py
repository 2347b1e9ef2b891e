"""``baton bench``: measure the pipeline on a Redis of its own, next to a raw ceiling.

Exit codes: 0 when every event of every run arrived exactly once with nothing left pending
(whatever the speed), 1 otherwise or when the benchmark could not run, 2 for bad arguments.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from shared.ops.bench.chart import ChartUnavailableError, save_chart
from shared.ops.bench.plan import AofMode, Bench, BenchConfig
from shared.ops.bench.report import finish, render, write_json
from shared.ops.cli import common
from shared.runtime import eventloop, heap


def register(app: typer.Typer) -> None:
    app.command()(bench)


def _concurrencies(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"not a list of integers: {text!r}") from exc
    if any(v < 1 or v > 10_000 for v in values):
        raise typer.BadParameter("each concurrency must be 1..10000")
    return values


def bench(
    events: Annotated[int | None, typer.Option("--events", "-n", min=100,
                      help="events per drain run [20000; quick 1000]")] = None,
    reps: Annotated[int | None, typer.Option(min=1, max=9,
                    help="drain repetitions, median taken [3; quick 1]")] = None,
    rate: Annotated[float | None, typer.Option(min=1, max=20_000,
                    help="events/s of the latency run [500; quick 200]")] = None,
    latency_seconds: Annotated[float | None, typer.Option(min=2, max=120,
                               help="latency run length incl. 3 s warm-up [12; quick 3]")] = None,
    replicas: Annotated[int, typer.Option(min=1, max=8, help="processes per service")] = 1,
    concurrency: Annotated[int | None, typer.Option(min=1, max=10_000,
                           help="BATON_CONCURRENCY of the offline runs [Baton's default]")] = None,
    aof: Annotated[str, typer.Option(help="both: no AOF, then appendfsync always; off; only")] =
        "both",
    llm_concurrency: Annotated[str | None, typer.Option(
        help="LLM-bound sweep, comma-separated [1,100,500; quick 1,20]")] = None,
    llm_delay_ms: Annotated[float, typer.Option(min=1, max=10_000,
                            help="fake LLM response delay")] = 200.0,
    llm_seconds: Annotated[float | None, typer.Option(min=1, max=120,
                           help="closed-loop time per concurrency [8; quick 2]")] = None,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="skip the LLM-bound sweep")] = False,
    quick: Annotated[bool, typer.Option(help="small sizes, for a smoke test")] = False,
    profile: Annotated[bool, typer.Option(help="py-spy the workers in an extra drain")] = False,
    out: Annotated[Path, typer.Option(help="results folder")] = Path("bench-results"),
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON report")] = False,
) -> None:  # fmt: skip
    """Throughput, latency, CPU and memory of the real services vs a raw Redis ceiling."""
    if aof not in ("both", "off", "only"):
        raise typer.BadParameter("--aof must be both, off or only")
    chosen: dict[str, Any] = {
        "events": events, "reps": reps, "rate": rate, "latency_s": latency_seconds,
        "llm_seconds": llm_seconds,
        "llm_concurrency": _concurrencies(llm_concurrency) if llm_concurrency else None,
    }  # fmt: skip
    overrides = {k: v for k, v in chosen.items() if v is not None}
    overrides.update(replicas=replicas, concurrency=concurrency, aof=_aof(aof),
                     llm_delay_ms=llm_delay_ms, profile=profile, out_dir=out)  # fmt: skip
    if no_llm:
        overrides["llm_concurrency"] = ()
    if "latency_s" in overrides:
        overrides["warmup_s"] = min(3.0, overrides["latency_s"] / 4)
    config = BenchConfig.quick_config(**overrides) if quick else BenchConfig(**overrides)
    width = None if Console().width >= 130 else 150
    heap.tune()  # a collector pause here would be read as the pipeline's latency
    result = run_bench(config, Console(stderr=as_json, width=width))
    if as_json:
        common.print_json(result)
    sys.exit(0 if result["ok"] else 1)


def _aof(value: str) -> AofMode:
    return "both" if value == "both" else ("off" if value == "off" else "only")


def run_bench(config: BenchConfig, console: Console) -> dict[str, Any]:
    """Run the benchmark, write ``bench.json``, ``bench.png`` and ``table.txt``; the report."""
    run_dir = config.out_dir / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    run_dir.mkdir(parents=True, exist_ok=True)
    console.print(f"baton bench: results and worker logs in {run_dir}/ (this takes a while)")
    result = finish(eventloop.run(Bench(config, run_dir).run()))
    json_path = write_json(result, run_dir / "bench.json")
    try:
        chart: Path | str = save_chart(result, run_dir / "bench.png")
    except ChartUnavailableError as exc:
        chart = f"none ({exc})"
    recorder = Console(record=True, width=150, file=io.StringIO())
    render(result, recorder)
    (run_dir / "table.txt").write_text(recorder.export_text())
    render(result, console)
    console.print(f"JSON: {json_path}\nchart: {chart}")
    return result
