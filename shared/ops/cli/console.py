"""``baton console``: the web console for operators (escalations, dead letters, runs, live).

Its web libraries are imported only when the command runs, so workers never load them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from shared.ops.cli import common
from shared.pipeline.settings import BatonSettings

if TYPE_CHECKING:
    from shared.ops.console.settings import ConsoleSettings


def register(app: typer.Typer) -> None:
    app.command()(console)


def console(
    host: Annotated[str | None, typer.Option(help="listen address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="port (default 8470)")] = None,
) -> None:
    """Serve the web console; log in with BATON_CONSOLE_TOKEN or a user of BATON_CONSOLE_USERS
    (without either, a one-off operator token is printed)."""
    import uvicorn

    from shared.ops.console.app import create_app
    from shared.ops.console.server import redis_clients, warnings
    from shared.ops.console.settings import load_console_settings

    base = common.settings()
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings, token = load_console_settings(**overrides).with_generated_token()
    url = common.redis_url(base)
    for warning in warnings(settings, common.run(_user(base, settings, url))):
        typer.echo(f"warning: {warning}", err=True)
    if token:
        typer.echo(f"no console users configured; this run's operator token: {token}", err=True)
    typer.echo(f"Baton console on http://{settings.host}:{settings.port}/", err=True)
    operator, viewer = redis_clients(base, settings, url)
    app = create_app(base, settings, operator, viewer)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


async def _user(base: BatonSettings, settings: ConsoleSettings, url: str) -> str | None:
    from shared.ops.console.server import redis_clients, redis_user

    probe, viewer = redis_clients(base, settings, url)
    try:
        return await redis_user(probe)
    finally:
        await probe.aclose()
        if viewer is not None:
            await viewer.aclose()
