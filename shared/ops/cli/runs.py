"""``baton runs show ID``: one event's run record as a timeline."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from shared.errors import BatonError
from shared.ops.cli import common
from shared.ops.cli.duration import duration_opt
from shared.pipeline.settings import BatonSettings
from shared.runtime.runrecord import load_run

runs_app = typer.Typer(help="Run records: every stage attempt of an event.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")


@runs_app.command("show")
def show(
    event_id: Annotated[str, typer.Argument(help="the event id")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Show the run record of EVENT_ID."""
    config = common.settings()
    record = common.run(_load(config, event_id))
    if record is None:
        raise BatonError(f"no run record for {event_id!r} (never seen, or expired)")
    if as_json:
        common.print_json(record)
    else:
        Console().print(_timeline(record))


@runs_app.command("list")
def list_(
    status: Annotated[
        str | None, typer.Option(help="responded, escalated, dead_lettered, ...")
    ] = None,
    stage: Annotated[str | None, typer.Option(help="the stage it is at or ended in")] = None,
    reason: Annotated[str | None, typer.Option(help="why it ended")] = None,
    since: Annotated[float | None, duration_opt("only runs younger than this")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Run records matching the filters, newest first."""
    config = common.settings()
    runs = common.run(_scan(config))
    cutoff = time.time() - since if since is not None else None
    chosen = [
        r
        for r in runs
        if (status is None or r.get("status") == status)
        and (stage is None or r.get("stage") == stage)
        and (reason is None or r.get("reason") == reason)
        and (cutoff is None or float(r.get("created_at", 0)) >= cutoff)
    ]
    chosen.sort(key=lambda r: float(r.get("created_at", 0)), reverse=True)
    chosen = chosen[:limit]
    if as_json:
        common.print_json(chosen)
        return
    table = Table(title=f"{len(chosen)} run(s)")
    for column in ("event", "status", "stage", "reason", "age"):
        table.add_column(column)
    for r in chosen:
        age = time.time() - float(r.get("created_at", time.time()))
        table.add_row(
            r.get("event_id", "?"),
            r.get("status", "?"),
            r.get("stage", "?"),
            r.get("reason", ""),
            f"{age:.0f}s",
        )
    Console().print(table)


async def _scan(config: BatonSettings) -> list[dict[str, str]]:
    redis = common.client(config)
    pattern = config.keys.run("*")
    try:
        keys = [
            k async for k in redis.scan_iter(match=pattern, count=1000) if not k.endswith(b":steps")
        ]
        async with redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            rows = await pipe.execute()
    finally:
        await redis.aclose()
    return [{k.decode(): v.decode() for k, v in row.items()} for row in rows if row]


async def _load(config: BatonSettings, event_id: str) -> dict[str, Any] | None:
    redis = common.client(config)
    try:
        return await load_run(redis, config.keys, event_id)
    finally:
        await redis.aclose()


def _timeline(record: dict[str, Any]) -> Table:
    title = f"{record['event_id']}: {record.get('status', '?')}"
    if record.get("reason"):
        title += f" ({record['reason']})"
    table = Table(title=title)
    for column in ("time", "stage", "outcome", "ms", "delivery", "tokens", "decision"):
        table.add_column(column)
    for step in record["steps"]:
        when = datetime.fromtimestamp(step["started_at"], UTC).strftime("%H:%M:%S.%f")[:-3]
        tokens = step.get("tokens_in", 0) + step.get("tokens_out", 0)
        decision = ", ".join(
            f"{k}={v}"
            for k, v in step.get("decision", {}).items()
            if not isinstance(v, list | dict)
        )
        if step.get("reason"):
            decision = f"reason={step['reason']} {decision}".strip()
        ms, delivery = f"{step['duration_ms']:.1f}", str(step.get("delivery", 1))
        spent = str(tokens) if tokens else "-"
        table.add_row(when, step["stage"], step["outcome"], ms, delivery, spent, decision)
    return table
