"""``baton status``: length, lag, pending and consumers of every stream."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer
from redis.asyncio import Redis
from redis.exceptions import NoPermissionError
from rich.console import Console
from rich.table import Table

from services.pipeline import PIPELINE
from shared.ops import durability
from shared.ops.cli import common
from shared.pipeline.settings import BatonSettings
from shared.runtime import streamstats
from shared.runtime.join import OpenJoin, open_joins


def register(app: typer.Typer) -> None:
    app.command()(status)


def status(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    watch: Annotated[float, typer.Option(help="refresh every N seconds (0: once)")] = 0.0,
) -> None:
    """Per stream: length, group lag, pending, oldest pending age, consumers alive/dead."""
    config = common.settings()
    common.run(_status(config, as_json, watch))


async def _status(config: BatonSettings, as_json: bool, watch: float) -> None:
    redis = common.client(config)
    console = Console()
    streams = [config.keys.stream(name) for name in PIPELINE.streams()]
    try:
        await _warn_if_unsafe(redis)
        while True:
            states = await streamstats.collect(redis, config.keys, streams)
            if as_json:
                common.print_json(streamstats.as_json(states))
            else:
                if watch:
                    console.clear()
                console.print(_table(states))
                if PIPELINE.joins:
                    console.print(_joins_table(*await open_joins(redis, config.keys)))
            if not watch:
                return
            await asyncio.sleep(watch)
    finally:
        await redis.aclose()


async def _warn_if_unsafe(redis: Redis) -> None:
    """A loud line on stderr when Redis would lose commits on restart (needs INFO, as operator)."""
    try:
        warning = durability.hazard(await durability.server_facts(redis))
    except NoPermissionError:
        return
    if warning:
        Console(stderr=True).print(f"[bold red]{warning}[/]", highlight=False)


def _joins_table(total: int, oldest: list[OpenJoin]) -> Table:
    """Joins still waiting for branches, oldest first, with their age and deadline."""
    table = Table(title=f"Open joins: {total}" + (f" (oldest {len(oldest)})" if oldest else ""))
    for column in ("join", "branches in", "age", "deadline in"):
        table.add_column(column, justify="left" if column == "join" else "right")
    now = time.time()
    for join in oldest:
        table.add_row(join.id, f"{join.settled}/{join.expected}", f"{join.age_s(now):.1f}s",
                      f"{join.deadline - now:.1f}s")  # fmt: skip
    return table


def _table(states: list[streamstats.StreamState]) -> Table:
    table = Table(title="Baton streams")
    columns = (
        "stream",
        "length",
        "group",
        "lag",
        "pending",
        "oldest pending",
        "deliveries",
        "consumers (in flight)",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("stream", "group") else "right")
    for state in states:
        if not state.groups:
            table.add_row(state.key, str(state.length), "-", "-", "-", "-", "-", "-")
        for group in state.groups:
            oldest = group.oldest_pending_idle_ms
            table.add_row(
                state.key,
                str(state.length),
                group.name,
                "?" if group.lag is None else str(group.lag),
                str(group.pending),
                "-" if oldest is None else f"{oldest / 1000:.1f}s",
                " ".join(f"{k}x:{v}" for k, v in group.deliveries.items()) or "-",
                f"{group.alive} alive / {group.dead} dead "
                + "("
                + ", ".join(f"{c.pending}" for c in group.consumers)
                + ")",
            )
    return table
