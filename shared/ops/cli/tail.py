"""``baton tail STREAM``: the latest entries of a stream, optionally following new ones."""

from __future__ import annotations

from typing import Annotated, Any, cast

import orjson
import typer

from services.pipeline import PIPELINE
from shared.ops.cli import common
from shared.pipeline.producer import decode_entry
from shared.pipeline.settings import BatonSettings

StreamReply = list[tuple[bytes, list[Any]]] | None


def register(app: typer.Typer) -> None:
    app.command()(tail)


def tail(
    stream: Annotated[str, typer.Argument(help="e.g. responses, dlq, baton:intake")],
    count: Annotated[int, typer.Option("--count", "-n", min=1)] = 10,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="keep printing new entries")
    ] = False,
) -> None:
    """Print the last COUNT entries of STREAM as JSON lines."""
    config = common.settings()
    key = common.stream_key(config, stream, PIPELINE.streams())
    common.run(_tail(config, key, count, follow))


async def _tail(config: BatonSettings, key: str, count: int, follow: bool) -> None:
    redis = common.client(config)
    try:
        entries = list(reversed(cast(list[Any], await redis.xrevrange(key, count=count))))
        last_id = _print(entries) or "$"
        while follow:
            reply = cast(StreamReply, await redis.xread({key: last_id}, block=2000, count=100))
            for _, batch in reply or []:
                last_id = _print(batch) or last_id
    finally:
        await redis.aclose()


def _print(entries: list[Any]) -> str | None:
    last = None
    for entry_id, fields in entries:
        last = entry_id.decode()
        line = {"id": last, **decode_entry(fields)}
        typer.echo(orjson.dumps(line).decode())
    return last
