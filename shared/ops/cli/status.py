"""``baton status``: per stream its length, events/s, lag, pending and consumers, and the
outcomes so far; at any terminal width (a narrow one gets one block per stream)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from shared.ops.cli import common
from shared.ops.cli.duration import duration_opt
from shared.pipeline.settings import BatonSettings
from shared.runtime import streamstats

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from rich.console import Console, RenderableType

OUTCOMES = (("responses", "responses"), ("escalations", "escalations"), ("dlq", "dead letters"))


@dataclass(frozen=True)
class Reading:
    """One look at Redis: the streams."""

    states: list[streamstats.StreamState]


def register(app: typer.Typer) -> None:
    app.command()(status)


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    watch: Annotated[float | None, duration_opt("refresh in place this often")] = None,
) -> None:
    """Per stream: length, events/s (last 10 s), group lag, pending, oldest pending age,
    consumers alive/dead; then the outcomes so far."""
    config = common.settings()
    common.run(_status(config, as_json, watch or 0.0))


async def _status(config: BatonSettings, as_json: bool, watch: float) -> None:
    from services.pipeline import PIPELINE

    redis = common.client(config)
    streams = [config.keys.stream(name) for name in PIPELINE.streams()]

    async def collect() -> Reading:
        states = await streamstats.collect(redis, config.keys, streams, rates=True)
        return Reading(states)

    try:
        await _warn_if_unsafe(redis)
        if as_json:  # no rich: scripts get their JSON sooner
            while True:
                common.print_json(streamstats.as_json((await collect()).states))
                if not watch:
                    return
                await asyncio.sleep(watch)
        await _show(config, collect, watch)
    finally:
        await redis.aclose()


async def _show(
    config: BatonSettings,
    collect: Callable[[], Awaitable[Reading]],
    watch: float,
) -> None:
    """Print once; with ``watch``, redraw in place on a terminal, print again elsewhere."""
    from rich.console import Console
    from rich.live import Live

    console = Console()
    frame = render(await collect(), config.prefix, console)
    if not (watch and console.is_terminal):
        while True:
            console.print(frame)
            if not watch:
                return
            await asyncio.sleep(watch)
            frame = render(await collect(), config.prefix, console)
    with Live(frame, console=console, auto_refresh=False) as live:
        while True:
            await asyncio.sleep(watch)
            live.update(render(await collect(), config.prefix, console), refresh=True)


async def _warn_if_unsafe(redis: Redis) -> None:
    """A loud line on stderr when Redis would lose commits on restart (needs INFO, as operator)."""
    from redis.exceptions import NoPermissionError
    from rich.console import Console

    from shared.ops import durability

    try:
        warning = durability.hazard(await durability.server_facts(redis))
    except NoPermissionError:
        return
    if warning:
        Console(stderr=True).print(f"[bold red]{warning}[/]", highlight=False)


def render(reading: Reading, prefix: str, console: Console) -> RenderableType:
    """A table when the terminal is wide enough for it, else one block per stream; either way
    names and numbers are whole, never cut short."""
    from rich.console import Group
    from rich.text import Text

    from shared.ops.cli.status_view import blocks, table, table_width

    states = reading.states
    fits = table_width(states) <= console.width
    body = table(states, prefix) if fits else blocks(states, prefix)
    counts = {s.name: s.length for s in states}
    outcomes = " · ".join(f"{label} {counts.get(name, 0)}" for name, label in OUTCOMES)
    rate_in = sum(s.per_second for s in states if s.name == "intake")
    rate_out = sum(s.per_second for s in states if s.name in dict(OUTCOMES))
    summary = f"outcomes: {outcomes}\nevents/s (last 10 s): in {rate_in:.1f}, out {rate_out:.1f}"
    return Group(body, Text(summary))
