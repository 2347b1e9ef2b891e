"""What every CLI command shares: settings, finding Redis, running async code, output."""

from __future__ import annotations

from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import orjson
import typer
from redis.asyncio import Redis

from shared.errors import ConfigError
from shared.pipeline.settings import BatonSettings, load_settings
from shared.runtime import eventloop
from shared.runtime.redis_client import connect_for

T = TypeVar("T")
STATE_DIR = Path(".baton")
URL_FILE = STATE_DIR / "redis.url"


def settings() -> BatonSettings:
    return load_settings(BatonSettings)


def redis_url(config: BatonSettings) -> str:
    """``REDIS_URL``, else the embedded server a running ``baton up`` recorded."""
    if config.redis_url:
        return config.redis_url
    if URL_FILE.exists():
        return URL_FILE.read_text().strip()
    raise ConfigError("REDIS_URL is not set and no `baton up` is running in this folder")


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
