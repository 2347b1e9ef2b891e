"""``baton up``: the four services (and, without REDIS_URL, a Redis) on this machine."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console

from services.pipeline import PIPELINE
from shared.ops.cli import common
from shared.ops.cli.demo import demo_payloads, outcome_lines
from shared.ops.cli.post import post_and_wait
from shared.ops.embedded import EmbeddedRedis

LOG_DIR = common.STATE_DIR / "logs"


def register(app: typer.Typer) -> None:
    app.command()(up)


def up(
    demo: Annotated[bool, typer.Option(help="post demo events and show their outcomes")] = False,
    once: Annotated[bool, typer.Option(help="stop after the demo instead of serving")] = False,
    replicas: Annotated[int, typer.Option(min=1, max=16, help="workers per service")] = 1,
    console: Annotated[
        bool, typer.Option(help="serve the web console too (baton console)")
    ] = False,
) -> None:
    """Run all four services locally until Ctrl-C; logs go to .baton/logs/."""
    config = common.settings()
    out = Console()
    embedded: EmbeddedRedis | None = None
    url = config.redis_url
    if not url:
        embedded = EmbeddedRedis(common.STATE_DIR / "redis", appendfsync="everysec")
        embedded.start()
        url = embedded.url
        common.URL_FILE.write_text(url)
        out.print(f"embedded Redis at {url} (data in {embedded.data_dir})")
    workers = _spawn(url, replicas)
    out.print(f"{len(workers)} workers started; logs in {LOG_DIR}/")
    if console:
        workers.append(_spawn_console(url, out))
    try:
        if demo:
            config = config.model_copy(update={"redis_url": url})
            run_id = time.strftime("%H%M%S")
            payloads = demo_payloads(run_id)
            results = common.run(post_and_wait(config, payloads, timeout=60))
            for line in outcome_lines(results):
                typer.echo(line)
        if not once:
            out.print("serving; Ctrl-C to stop")
            _wait_for_signal(workers)
    finally:
        _stop(workers, config.shutdown_grace_s)
        if embedded is not None:
            embedded.stop()
            common.URL_FILE.unlink(missing_ok=True)


def _spawn(url: str, replicas: int) -> list[tuple[subprocess.Popen[bytes], IO[bytes]]]:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "REDIS_URL": url, "BATON_LOG_FORMAT": "json"}
    workers: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []
    for name in PIPELINE.services:
        for index in range(replicas):
            log = Path(LOG_DIR / f"{name}-{index}.log").open("ab")  # noqa: SIM115 - closed in _stop
            process = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}"], env=env, stdout=log, stderr=log
            )
            workers.append((process, log))
    return workers


def _spawn_console(url: str, out: Console) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """``baton console`` beside the workers; a one-off operator token when none is configured."""
    env = {**os.environ, "REDIS_URL": url}
    if not (env.get("BATON_CONSOLE_TOKEN") or env.get("BATON_CONSOLE_USERS")):
        env["BATON_CONSOLE_TOKEN"] = secrets.token_urlsafe(24)
        out.print(f"console token (this run only): {env['BATON_CONSOLE_TOKEN']}")
    host = env.get("BATON_CONSOLE_HOST", "127.0.0.1")
    port = env.get("BATON_CONSOLE_PORT", "8470")
    log = Path(LOG_DIR / "console.log").open("ab")  # noqa: SIM115 - closed in _stop
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.ops.cli.app", "console"], env=env, stdout=log, stderr=log
    )
    out.print(f"console at http://{host}:{port}/ (log: {LOG_DIR}/console.log)", highlight=False)
    return process, log


def _wait_for_signal(workers: list[tuple[subprocess.Popen[bytes], IO[bytes]]]) -> None:
    stopping = False

    def _stop_serving(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop_serving)
    signal.signal(signal.SIGINT, _stop_serving)
    while not stopping:
        for process, _ in workers:
            if process.poll() is not None:
                raise typer.Exit(1)
        time.sleep(0.2)


def _stop(workers: list[tuple[subprocess.Popen[bytes], IO[bytes]]], grace_s: float) -> None:
    for process, _ in workers:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + grace_s + 5
    for process, log in workers:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
