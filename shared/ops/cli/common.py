"""What every CLI command shares: settings, finding Redis, running async code, output."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import typer

from shared.errors import ConfigError
from shared.ops.cli.uplock import STATE_DIR, running_up
from shared.pipeline.settings import BatonSettings, load_settings
from shared.runtime import eventloop
from shared.runtime.redis_client import connect_for

if TYPE_CHECKING:
    from redis.asyncio import Redis

T = TypeVar("T")
__all__ = ["STATE_DIR", "client", "print_json", "redis_url", "run", "settings", "stream_key"]


def settings() -> BatonSettings:
    return load_settings(BatonSettings)


def redis_url(config: BatonSettings) -> str:
    """``REDIS_URL``, else the Redis of the ``baton up`` running in this folder (the same lookup
    for every command, ``worker`` included; see shared.ops.cli.uplock)."""
    if config.redis_url:
        return config.redis_url
    record = running_up()
    if record is not None:
        return record.redis_url
    raise ConfigError(
        "REDIS_URL is not set and no `baton up` is running in this folder: "
        "start one with `baton up`, or set REDIS_URL"
    )


def client(config: BatonSettings) -> Redis:
    """A client as the configured Redis user (``BATON_REDIS_USERNAME``/``PASSWORD`` or URL)."""

    return connect_for(config, url=redis_url(config), max_connections=4, block_ms=5000)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return eventloop.run(coro)


def print_json(data: Any) -> None:
    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def stream_key(config: BatonSettings, name: str, known: tuple[str, ...]) -> str:
    """The key of stream ``name`` (``responses`` or ``baton:responses``), one of ``known``;
    anything else is a usage error."""
    short = name.removeprefix(f"{config.prefix}:")
    if short not in known:
        raise typer.BadParameter(
            f"unknown stream {name!r}; expected one of {', '.join(known)}", param_hint="STREAM"
        )
    return config.keys.stream(short)
