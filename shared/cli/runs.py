"""``baton runs show ID``: one event's run record as a timeline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from shared.cli import common
from shared.config import BatonSettings
from shared.errors import BatonError
from shared.runrecord import load_run

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
