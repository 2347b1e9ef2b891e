"""``baton up``: the pipeline's services (and, without REDIS_URL, a Redis) on this machine, kept
running: a worker that dies is named and restarted (shared.ops.cli.supervisor), and what is going on
is shown live (shared.ops.cli.upview). One ``up`` per folder (shared.ops.cli.uplock)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import time
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live

from shared.errors import BatonError
from shared.ops.cli import common
from shared.ops.cli.supervisor import (
    CrashLoopError,
    RestartPolicy,
    Slot,
    Supervisor,
    slots_for,
    without_metrics_port,
)
from shared.ops.cli.uplock import UpLock
from shared.ops.cli.upview import PlainView, Snapshot, event_line, frame
from shared.pipeline.settings import BatonSettings

LOG_DIR = common.STATE_DIR / "logs"
TICK_S = 0.2
LOOK_EVERY_S = 2.0


class RedisUnreachableError(BatonError):
    """``up`` was pointed at a Redis that does not answer."""


def register(app: typer.Typer) -> None:
    app.command()(up)


def up(
    demo: Annotated[bool, typer.Option(help="Post demo events and show their outcomes.")] = False,
    once: Annotated[bool, typer.Option(help="Stop after the demo instead of serving.")] = False,
    replicas: Annotated[int, typer.Option(min=1, max=16, help="Workers per service.")] = 1,
    max_restarts: Annotated[int, typer.Option(
        min=1, help="A worker that dies this many times within a minute stops up.")] = 5,
    console_: Annotated[bool, typer.Option(
        "--console", help="Serve the web console too (baton console), supervised alike.")] = False,
) -> None:  # fmt: skip
    """Run all the services locally until Ctrl-C, restarting any that dies; logs go to
    .baton/logs/. Without REDIS_URL it starts a Redis of its own (data in .baton/redis/)."""
    from services.pipeline import PIPELINE
    from shared.ops.embedded import EmbeddedRedis

    config = common.settings()
    console = Console()
    lock = UpLock()
    lock.acquire()
    embedded: EmbeddedRedis | None = None
    try:
        url = config.redis_url
        if url:
            _check_reachable(config, url)
        else:
            embedded = EmbeddedRedis(common.STATE_DIR / "redis", appendfsync="everysec")
            embedded.start()
            url = embedded.url
            console.print(f"embedded Redis at {url} (data in {embedded.data_dir})", highlight=False)
        lock.record(url, embedded=embedded is not None)
        env = {**without_metrics_port(os.environ), "REDIS_URL": url, "BATON_LOG_FORMAT": "json"}
        slots = slots_for(PIPELINE.services, replicas, config.metrics_port)
        if config.metrics_port:
            last = config.metrics_port + len(slots) - 1
            console.print(f"metrics: each worker on its own port, {config.metrics_port}-{last}")
        if console_:
            slots.append(_console_slot(env, console))
        policy = RestartPolicy(max_deaths=max_restarts)
        supervisor = Supervisor(slots, env, LOG_DIR, policy)
        config = config.model_copy(update={"redis_url": url})
        code = common.run(_serve(config, supervisor, console, demo=demo, once=once))
    finally:
        if embedded is not None:
            embedded.stop()
        lock.release()
    if code:
        raise typer.Exit(code)


def _console_slot(env: dict[str, str], console: Console) -> Slot:
    """``baton console`` beside the workers; a one-off operator token when none is configured."""
    if not (env.get("BATON_CONSOLE_TOKEN") or env.get("BATON_CONSOLE_USERS")):
        env["BATON_CONSOLE_TOKEN"] = secrets.token_urlsafe(24)
        console.print(
            f"console token (this run only): {env['BATON_CONSOLE_TOKEN']}", soft_wrap=True
        )
    host = env.get("BATON_CONSOLE_HOST", "127.0.0.1")
    port = env.get("BATON_CONSOLE_PORT", "8470")
    console.print(
        f"console at http://{host}:{port}/ (log: {LOG_DIR}/console-0.log)",
        highlight=False,
        soft_wrap=True,
    )
    return Slot("console", 0, argv=("shared.ops.cli.app", "console"))


def _check_reachable(config: BatonSettings, url: str) -> None:
    problem = common.run(_problem(config, url))
    if problem:
        raise RedisUnreachableError(
            f"cannot reach Redis at {url} ({problem}). Is it running? "
            "Fix REDIS_URL, or unset it and `baton up` starts a Redis of its own."
        )


async def _problem(config: BatonSettings, url: str) -> str:
    """Why Redis at ``url`` does not answer PING; empty when it does."""
    from redis.exceptions import AuthenticationError, RedisError

    redis = common.client(config.model_copy(update={"redis_url": url}))
    try:
        await asyncio.wait_for(redis.ping(), timeout=5)
        return ""
    except AuthenticationError:
        raise  # a failure of its own, explained by shared.ops.cli.failure
    except (RedisError, OSError, TimeoutError) as exc:
        return str(exc).rstrip(".") or type(exc).__name__
    finally:
        await redis.aclose()


async def _serve(
    config: BatonSettings, supervisor: Supervisor, console: Console, *, demo: bool, once: bool
) -> int:
    """Supervise until a signal (or, with ``once``, the demo's end); 1 on a crash loop."""
    from services.pipeline import PIPELINE

    stop = _stop_on_signals()
    if once and not demo:
        stop.set()  # start the workers, then stop them again
    snap = Snapshot(config.redis_url or "", supervisor.workers)
    streams = [config.keys.stream(name) for name in PIPELINE.streams()]
    live = Live(console=console, refresh_per_second=2) if console.is_terminal else None
    plain = PlainView(console)
    say = _sayer(console) if live else plain.say
    watcher = asyncio.create_task(_watch_redis(config, streams, snap, say))
    show = _sayer(console)  # the outcomes as they are, without timestamps
    demo_task = asyncio.create_task(_demo(config, show, stop if once else None)) if demo else None
    try:
        with live or contextlib.nullcontext():
            for event in supervisor.start():
                say(event_line(event))
            if not once:
                say(f"serving; logs in {LOG_DIR}/; Ctrl-C to stop")
            while not stop.is_set():
                for event in supervisor.poll():
                    say(event_line(event))
                if demo_task is not None and demo_task.done() and demo_task.exception():
                    demo_task.result()  # the demo failed: say why
                _show(snap, live, plain)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), TICK_S)
            if demo_task is not None and demo_task.done():
                demo_task.result()
    except CrashLoopError as exc:
        console.print(f"error: {exc}", highlight=False, soft_wrap=True)
        return 1
    finally:
        await _cancel(watcher, demo_task)
        if live is None and snap.reachable is not None:
            plain.update(snap, force=True)  # the last numbers, for the log
        say("stopping the workers")
        supervisor.stop(config.shutdown_grace_s)
    return 0


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)
    return stop


def _show(snap: Snapshot, live: Live | None, plain: PlainView) -> None:
    if live is not None:
        live.update(frame(snap, str(LOG_DIR)))  # drawn by Live's own refresh, a few times a second
    else:
        plain.update(snap)


def _sayer(console: Console) -> Callable[[str], None]:
    def say(line: str) -> None:
        console.print(line, highlight=False, soft_wrap=True)

    return say


async def _cancel(*tasks: asyncio.Task[Any] | None) -> None:
    for task in tasks:
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _watch_redis(
    config: BatonSettings, streams: list[str], snap: Snapshot, say: Callable[[str], None]
) -> None:
    """Look at Redis every few seconds: reachable or not (said when it changes), and the
    streams' lengths, lag and rates for the summary."""
    from shared.runtime import streamstats

    redis = common.client(config)
    try:
        while True:
            try:
                snap.streams = await asyncio.wait_for(
                    streamstats.collect(redis, config.keys, streams, rates=True), LOOK_EVERY_S * 2
                )
                if snap.reachable is False:
                    say(f"Redis {snap.redis_url} is reachable again")
                snap.reachable, snap.problem = True, ""
            except Exception as exc:  # any failure to look is shown, never fatal to up
                snap.problem = str(exc).rstrip(".") or type(exc).__name__
                if snap.reachable is not False:
                    say(f"Redis {snap.redis_url} is UNREACHABLE ({snap.problem})")
                snap.reachable = False
            await asyncio.sleep(LOOK_EVERY_S)
    finally:
        await redis.aclose()


async def _demo(
    config: BatonSettings, say: Callable[[str], None], done: asyncio.Event | None
) -> None:
    """Post the demo events and show their outcomes; then set ``done`` (``--once``)."""
    from shared.ops.cli.demo import demo_payloads, outcome_lines
    from shared.ops.cli.post import post_and_wait

    try:
        payloads = demo_payloads(time.strftime("%H%M%S"))
        results: list[dict[str, Any]] = await post_and_wait(config, payloads, timeout=60)
        for line in outcome_lines(results):
            say(line)
    finally:
        if done is not None:
            done.set()
