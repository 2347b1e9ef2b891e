"""``baton escalations list|show|resolve``: the human in the loop."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from shared.errors import BatonError
from shared.ops import resolve as resolution
from shared.ops.cli import common
from shared.ops.inbox import Inbox, InboxEntry
from shared.pipeline.contracts import FinalResponse
from shared.pipeline.settings import BatonSettings

escalations_app = typer.Typer(help="Events waiting for a human.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(escalations_app, name="escalations")


@escalations_app.command("list")
def list_(
    reason: Annotated[str | None, typer.Option(help="only this reason")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Open escalations, oldest first, with counts per reason."""
    config = common.settings()
    entries = common.run(_open(config))
    entries = [e for e in entries if reason is None or e.reason == reason]
    if as_json:
        common.print_json([_summary(e) for e in entries])
        return
    table = Table(title=f"{len(entries)} open escalation(s)")
    for column in ("event", "reason", "age", "category", "suggested action"):
        table.add_column(column, overflow="fold")
    for e in entries:
        category = e.packet.get("classification", {}).get("category", "-")
        table.add_row(
            e.event_id, e.reason, f"{e.age_s:.0f}s", category, e.packet.get("suggested_action", "")
        )
    Console().print(table)


@escalations_app.command("show")
def show(
    ident: Annotated[str, typer.Argument(help="event id or stream entry id")],
) -> None:
    """The full escalation packet (always JSON)."""
    config = common.settings()
    entry = common.run(_find(config, ident))
    common.print_json({**_summary(entry), "packet": entry.packet})


@escalations_app.command("resolve")
def resolve(
    ident: Annotated[str, typer.Argument(help="event id or stream entry id")],
    reply: Annotated[str | None, typer.Option(help="the reply to send")] = None,
    approve: Annotated[bool, typer.Option(help="send the reply drafted by the pipeline")] = False,
    dry_run: Annotated[bool, typer.Option(help="validate and show, change nothing")] = False,
) -> None:
    """Publish a validated reply to ``responses`` and close the event's run record."""
    if (reply is None) == (not approve):
        raise typer.BadParameter("give exactly one of --reply TEXT or --approve")
    config = common.settings()
    entry = common.run(_find(config, ident))
    text = reply if reply is not None else resolution.drafted_reply(entry)
    final = resolution.final_response(entry, text)
    if dry_run:
        common.print_json({"would_publish": final.model_dump(mode="json")})
        return
    done = common.run(_resolve(config, entry, final))
    typer.echo(f"{entry.event_id}: resolved" if done else f"{entry.event_id}: already resolved")


def _summary(entry: InboxEntry) -> dict[str, Any]:
    return {
        "event_id": entry.event_id,
        "entry_id": entry.entry_id,
        "reason": entry.reason,
        "age_s": round(entry.age_s, 1),
    }


async def _open(config: BatonSettings) -> list[InboxEntry]:
    redis = common.client(config)
    try:
        return await Inbox(redis, config.keys, config.keys.escalations).open_entries()
    finally:
        await redis.aclose()


async def _find(config: BatonSettings, ident: str) -> InboxEntry:
    redis = common.client(config)
    try:
        entry = await Inbox(redis, config.keys, config.keys.escalations).find(ident)
    finally:
        await redis.aclose()
    if entry is None:
        raise BatonError(f"no open escalation {ident!r}")
    return entry


async def _resolve(config: BatonSettings, entry: InboxEntry, final: FinalResponse) -> bool:
    redis = common.client(config)
    try:
        return await resolution.resolve(redis, config.keys, entry, final, config.run_retention_s)
    finally:
        await redis.aclose()
