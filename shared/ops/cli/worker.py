"""``baton worker NAME``: run one service, or check that it is alive (for healthchecks)."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from typing import Annotated

import typer

import services
from shared.errors import ConfigError
from shared.ops.cli import common
from shared.pipeline.settings import BatonSettings, load_settings


def register(app: typer.Typer) -> None:
    app.command()(worker)


def worker(
    name: Annotated[str, typer.Argument(help="intake, triage, responder or validator")],
    check: Annotated[
        bool, typer.Option("--check", help="exit 0 if a worker on this host has a live heartbeat")
    ] = False,
) -> None:
    """Run the NAME service until SIGTERM (graceful: in-flight events finish first)."""
    try:
        name = services.checked(name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if check:
        settings = load_settings(services.load(name).SETTINGS)
        sys.exit(0 if common.run(_alive(settings, name)) else 1)
    # Redis as every command finds it: REDIS_URL, else the `baton up` running in this folder
    # (with neither, the service itself says that REDIS_URL is not set).
    env = dict(os.environ)
    with contextlib.suppress(ConfigError):
        env["REDIS_URL"] = common.redis_url(common.settings())
    # The service's own entry point, in place of this process (same pid, signals and
    # environment): it starts without the CLI's modules, and keeps out what workers never use
    # (see shared.runtime.heap), the process the benchmark measures. It imports the service itself.
    os.execve(sys.executable, [sys.executable, "-m", f"services.{name}"], env)


async def _alive(config: BatonSettings, service: str) -> bool:
    """A heartbeat key of this service whose consumer runs on this host (this container)."""
    redis = common.client(config)
    try:
        if config.consumer:
            return bool(await redis.exists(config.keys.heartbeat(service, config.consumer)))
        pattern = config.keys.heartbeat(service, f"{socket.gethostname()}-*")
        async for _ in redis.scan_iter(match=pattern, count=1000):
            return True
        return False
    except OSError:
        return False
    finally:
        await redis.aclose()
