"""``baton post``: put events on the intake stream, as any producer would."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Annotated, Any, cast

import orjson
import typer
from redis.asyncio import Redis

from services.pipeline import PIPELINE
from shared.cli import common
from shared.config import BatonSettings
from shared.contracts import CustomerRequest
from shared.delivery import as_text
from shared.errors import BatonError
from shared.outcome import TERMINAL_STATUSES
from shared.submission import event_id_of

Entries = list[tuple[bytes, dict[bytes, bytes]]]
TERMINAL_STREAMS = {"responded": "responses", "escalated": "escalations",
                    "dead_lettered": "dlq"}  # fmt: skip


def register(app: typer.Typer) -> None:
    app.command()(post)


def post(
    text: Annotated[str | None, typer.Argument(help="the request text")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="JSONL, one payload a line")
    ] = None,
    customer_id: Annotated[str | None, typer.Option(help="customer id")] = None,
    channel: Annotated[str, typer.Option(help="channel, e.g. email, chat")] = "api",
    event_id: Annotated[str | None, typer.Option(help="idempotency key")] = None,
    wait: Annotated[bool, typer.Option(help="wait for and print each outcome")] = False,
    timeout: Annotated[float, typer.Option(help="seconds to wait with --wait")] = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Post one request (TEXT) or a JSONL file of payloads; print the event ids."""
    if (text is None) == (file is None):
        raise typer.BadParameter("give either TEXT or --file")
    payloads = _payloads_from_file(file) if file else [
        _payload(text or "", customer_id, channel, event_id)
    ]  # fmt: skip
    config = common.settings()
    results = common.run(_post_all(config, payloads, wait, timeout))
    if as_json:
        common.print_json(results)
    else:
        for result in results:
            typer.echo(result["event_id"] if not wait else _describe(result))
    if wait and any(r.get("status") not in TERMINAL_STATUSES for r in results):
        sys.exit(1)


def _payload(text: str, customer_id: str | None, channel: str, event_id: str | None) -> bytes:
    data: dict[str, Any] = {"text": text, "channel": channel}
    if customer_id:
        data["customer_id"] = customer_id
    if event_id:
        data["event_id"] = event_id
    CustomerRequest.model_validate(data)  # fail here, with a clear message, not in the pipeline
    return orjson.dumps(data)


def _payloads_from_file(path: Path) -> list[bytes]:
    """Lines are posted as given (even invalid ones: the pipeline dead-letters those)."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise BatonError(f"cannot read {path}: {exc.strerror}") from exc
    return [line.strip() for line in lines if line.strip()]


async def _post_all(
    config: BatonSettings, payloads: list[bytes], wait: bool, timeout: float
) -> list[dict[str, Any]]:
    redis = common.client(config)
    try:
        posted = []
        for payload in payloads:
            fields = {b"payload": payload}
            entry_id = as_text(await redis.xadd(config.keys.stream(PIPELINE.entry_stream), fields))  # type: ignore[arg-type]
            event_id = event_id_of(fields, entry_id, config.max_payload_bytes)
            posted.append({"event_id": event_id, "entry_id": entry_id})
        if wait:
            await asyncio.gather(*(_await_outcome(redis, config, p, timeout) for p in posted))
        return posted
    finally:
        await redis.aclose()


async def _await_outcome(
    redis: Redis, config: BatonSettings, posted: dict[str, Any], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    run_key = config.keys.run(posted["event_id"])
    while time.monotonic() < deadline:
        raw = await redis.hget(run_key, "status")
        status = as_text(raw) if raw is not None else None
        if status in TERMINAL_STATUSES:
            posted["status"] = status
            posted["outcome"] = await _find_entry(redis, config, posted)
            return
        await asyncio.sleep(0.05)
    posted["status"] = "timeout"


async def _find_entry(
    redis: Redis, config: BatonSettings, posted: dict[str, Any]
) -> dict[str, Any] | None:
    stream = config.keys.stream(TERMINAL_STREAMS[posted["status"]])
    # Stream ids are server timestamps, so a new event's outcome comes after its posted entry;
    # a duplicate post's outcome is older, so search the recent past too.
    for start in (posted["entry_id"], "-"):
        entries = cast(Entries, await redis.xrange(stream, min=start, count=10_000))
        for _, fields in entries:
            if fields.get(b"event_id", b"").decode() == posted["event_id"]:
                return common.decode_fields(fields)
    return None


def _describe(result: dict[str, Any]) -> str:
    outcome = result.get("outcome") or {}
    status = result.get("status")
    if status == "responded":
        response = outcome.get("response", {})
        category, reply = response.get("category"), response.get("reply")
        return f"{result['event_id']}  responded [{category}]\n{reply}"
    reason = outcome.get("reason", "")
    return f"{result['event_id']}  {status} {reason}".rstrip()
