"""``baton dlq list|show|replay|purge``: inspect dead letters and bring them back."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from services.pipeline import PIPELINE
from shared.errors import BatonError
from shared.observability.tracing import Tracing
from shared.ops import replay
from shared.ops.cli import common
from shared.ops.cli.duration import duration_opt
from shared.ops.inbox import Inbox, InboxEntry
from shared.ops.inbox import purge as purge_entries
from shared.pipeline.producer import decode_entry
from shared.pipeline.settings import BatonSettings

if TYPE_CHECKING:
    pass

dlq_app = typer.Typer(help="Dead letters: failed events, with their reasons.", no_args_is_help=True)

Stage = Annotated[str | None, typer.Option(help="only dead letters from this service")]
Reason = Annotated[str | None, typer.Option(help="only this reason")]
Since = Annotated[float | None, duration_opt("only those younger than this")]
Event = Annotated[str | None, typer.Option(help="only this event id")]
AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]
DryRun = Annotated[bool, typer.Option(help="show what would happen, change nothing")]


def register(app: typer.Typer) -> None:
    app.add_typer(dlq_app, name="dlq")


@dlq_app.command("list")
def list_(
    stage: Stage = None,
    reason: Reason = None,
    since: Since = None,
    event: Event = None,
    show_all: Annotated[bool, typer.Option("--all", help="include resolved ones")] = False,
    as_json: AsJson = False,
) -> None:
    """Open dead letters (filtered), with counts per reason."""
    config = common.settings()
    entries = common.run(_entries(config, show_all))
    chosen = [
        e
        for e in entries
        if replay.matches(e, stage=stage, reason=reason, since_s=since, event=event)
    ]
    counts = Counter(e.reason for e in chosen)
    if as_json:
        rows = [{**replay.describe(e), "resolved": e.resolved} for e in chosen]
        common.print_json({"counts": dict(counts), "entries": rows})
        return
    table = Table(
        title=f"{len(chosen)} dead letter(s): "
        + ", ".join(f"{r} {n}" for r, n in counts.most_common())
    )
    for column in ("entry", "event", "reason", "stage", "deliveries", "age", "detail"):
        table.add_column(column, overflow="fold")
    for e in chosen:
        row = replay.describe(e)
        table.add_row(
            row["entry_id"],
            row["event_id"],
            row["reason"] + (" ✓" if e.resolved else ""),
            row["stage"],
            str(row["deliveries"]),
            f"{row['age_s']:.0f}s",
            row["detail"][:80],
        )
    Console().print(table)


@dlq_app.command("show")
def show(ident: Annotated[str, typer.Argument(help="stream entry id or event id")]) -> None:
    """The full dead letter: reason, detail, attempts, stage, original payload, trace id."""
    config = common.settings()
    entry = _one(common.run(_entries(config, True)), ident)
    common.print_json(
        {
            **replay.describe(entry),
            "resolved": entry.resolved,
            "fields": decode_entry(entry.fields),
        }
    )


@dlq_app.command("replay")
def replay_(
    ids: Annotated[list[str] | None, typer.Argument(help="entry or event ids")] = None,
    stage: Stage = None,
    reason: Reason = None,
    since: Since = None,
    replay_all: Annotated[bool, typer.Option("--all", help="every open dead letter")] = False,
    rate: Annotated[float, typer.Option(help="replays per second")] = 50.0,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Re-validate and re-publish at the failed stage, keeping the event id; each exactly once."""
    if not (ids or stage or reason or since or replay_all):
        raise typer.BadParameter("name ids, a filter (--stage/--reason/--since) or --all")
    config = common.settings()
    report = common.run(
        _replay(config, ids or [], dict(stage=stage, reason=reason, since_s=since), rate, dry_run)
    )
    if as_json:
        common.print_json(report)
    else:
        for row in report:
            typer.echo(
                f"{row['entry_id']}  {row['event_id']:<28} {row['result']:<10} {row['note']}"
            )
    if any(row["result"] == "invalid" for row in report):
        raise typer.Exit(1)


@dlq_app.command("purge")
def purge(
    ids: Annotated[list[str] | None, typer.Argument(help="entry or event ids")] = None,
    stage: Stage = None,
    reason: Reason = None,
    since: Since = None,
    resolved: Annotated[bool, typer.Option(help="only resolved ones")] = False,
    dry_run: DryRun = False,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False,
) -> None:
    """Delete dead letters for good (by ids or filter)."""
    config = common.settings()
    entries = [
        e
        for e in common.run(_entries(config, True))
        if (not ids or any(replay.identifies(e, i) for i in ids))
        and replay.matches(e, stage=stage, reason=reason, since_s=since)
        and (not resolved or e.resolved)
    ]
    if not (ids or stage or reason or since or resolved):
        raise typer.BadParameter("name ids or a filter; purging everything needs --resolved")
    for e in entries:
        typer.echo(
            f"{'would delete' if dry_run else 'delete'} {e.entry_id} {e.event_id} {e.reason}"
        )
    if dry_run or not entries:
        return
    if not yes and not typer.confirm(f"delete {len(entries)} dead letter(s)?"):
        raise typer.Exit(1)
    common.run(_delete(config, [e.entry_id for e in entries]))


async def _entries(config: BatonSettings, include_resolved: bool) -> list[InboxEntry]:
    redis = common.client(config)
    try:
        inbox = Inbox(redis, config.keys, config.keys.dlq)
        return await (inbox.all_entries() if include_resolved else inbox.open_entries())
    finally:
        await redis.aclose()


def _one(entries: list[InboxEntry], ident: str) -> InboxEntry:
    for entry in entries:
        if replay.identifies(entry, ident):
            return entry
    raise BatonError(f"no dead letter {ident!r}")


async def _replay(
    config: BatonSettings, ids: list[str], filters: dict[str, Any], rate: float, dry_run: bool
) -> list[dict[str, Any]]:
    redis = common.client(config)

    tracing = Tracing.from_env("baton-operator")
    report: list[dict[str, Any]] = []
    try:
        inbox = Inbox(redis, config.keys, config.keys.dlq)
        chosen = [
            e
            for e in await inbox.open_entries()
            if (not ids or any(replay.identifies(e, i) for i in ids))
            and replay.matches(e, **filters)
        ]
        for entry in chosen:
            report.append(
                await replay.replay_one(
                    inbox,
                    config.keys,
                    PIPELINE,
                    entry,
                    max_bytes=config.max_payload_bytes,
                    retention_s=config.run_retention_s,
                    tracing=tracing,
                    dry_run=dry_run,
                )
            )
            await asyncio.sleep(1 / rate)
        return report
    finally:
        tracing.shutdown()
        await redis.aclose()


async def _delete(config: BatonSettings, entry_ids: list[str]) -> None:
    redis = common.client(config)
    try:
        await purge_entries(redis, config.keys.dlq, entry_ids)
    finally:
        await redis.aclose()
