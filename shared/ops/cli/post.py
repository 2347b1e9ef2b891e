"""``baton post``: put events on the entry stream, as any producer would (through
:mod:`shared.pipeline.producer`, the API users' own producers use)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn

from services.pipeline import PIPELINE
from shared.errors import BatonError
from shared.ops.cli import common
from shared.ops.cli.duration import duration_opt
from shared.pipeline.producer import AsyncProducer, EventOutcome, Posted, PostError, payload_of
from shared.pipeline.settings import BatonSettings

BATCH = 500


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
    timeout: Annotated[float, duration_opt("how long to wait with --wait")] = 60.0,
    from_line: Annotated[
        int, typer.Option("--from-line", min=1, help="with --file: start at this line (resume)")
    ] = 1,
    ids_out: Annotated[
        Path | None,
        typer.Option("--ids-out", help="with --file: write 'line event_id entry_id' as posted"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Post one request (TEXT) or a JSONL file of payloads; print the event ids.

    A file is posted in batches of 500 lines, each batch whole or not at all; if Redis fails,
    the message names the line to resume from (--from-line).
    """
    if (text is None) == (file is None):
        raise typer.BadParameter("give either TEXT or --file")
    config = common.settings()
    if file is None:
        data: dict[str, Any] = {"text": text or "", "channel": channel}
        data.update({k: v for k, v in (("customer_id", customer_id), ("event_id", event_id)) if v})
        lines = [(1, payload_of(data))]  # a bad request fails here, with what is wrong
    else:
        lines = list(_lines(file, from_line))
    echo_ids = not (as_json or wait or ids_out)
    results = common.run(_post(config, lines, wait, timeout, ids_out, echo_ids=echo_ids))
    if as_json:
        common.print_json(results)
    elif wait:
        for result in results:
            typer.echo(_describe(result))
    if wait and any(r.get("status") == "timeout" for r in results):
        sys.exit(1)


def _lines(path: Path, first: int) -> Iterator[tuple[int, bytes]]:
    """Numbered non-blank lines from ``first`` on, posted as given (even invalid ones: the
    pipeline dead-letters those, with their reason)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BatonError(f"cannot read {path}: {exc.strerror}") from exc
    for number, line in enumerate(raw.splitlines(), start=1):
        if number >= first and line.strip():
            yield number, line.strip()


class _Report:
    """Where each batch's ids go as soon as Redis has it (a file, stdout or nowhere), and the
    progress bar."""

    def __init__(self, numbers: list[int], ids_out: Path | None, echo_ids: bool) -> None:
        self.numbers = numbers
        self.echo_ids = echo_ids
        self.sink = ids_out.open("w") if ids_out else None
        self.progress = _progress(len(numbers), quiet=len(numbers) < 2)
        self.posted: list[Posted] = []

    def batch(self, batch: list[Posted]) -> None:
        for number, item in zip(self.numbers[len(self.posted) :], batch, strict=False):
            if self.sink is not None:
                self.sink.write(f"{number}\t{item.event_id}\t{item.entry_id}\n")
            elif self.echo_ids:
                typer.echo(item.event_id)
        self.posted.extend(batch)
        if self.sink is not None:
            self.sink.flush()
        if self.progress is not None:
            self.progress.update(self.progress.task_ids[0], completed=len(self.posted))

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()


async def _post(
    config: BatonSettings,
    lines: list[tuple[int, bytes]],
    wait: bool,
    timeout: float,
    ids_out: Path | None = None,
    *,
    echo_ids: bool = False,
) -> list[dict[str, Any]]:
    """Post ``lines`` (numbered payloads) and, with ``wait``, wait for where each ended."""
    producer = AsyncProducer(
        common.client(config),
        prefix=config.prefix,
        entry_stream=PIPELINE.entry_stream,
        max_payload_bytes=config.max_payload_bytes,
    )
    report = _Report([n for n, _ in lines], ids_out, echo_ids)
    try:
        with report.progress or nullcontext():
            await producer.post_many((p for _, p in lines), batch=BATCH, on_batch=report.batch)
        results = [{"event_id": p.event_id, "entry_id": p.entry_id} for p in report.posted]
        if wait:
            outcomes = await asyncio.gather(*(producer.wait(p, timeout) for p in report.posted))
            for result, outcome in zip(results, outcomes, strict=True):
                result.update(_outcome_fields(outcome))
        return results
    except PostError as exc:
        raise BatonError(_resume_message(exc, report.numbers, ids_out)) from exc
    finally:
        report.close()
        await producer.aclose()


async def post_and_wait(
    config: BatonSettings, payloads: list[bytes], timeout: float
) -> list[dict[str, Any]]:
    """Post ``payloads`` and wait for each outcome (``baton up --demo``)."""
    return await _post(config, list(enumerate(payloads, start=1)), True, timeout)


def _resume_message(exc: PostError, numbers: list[int], ids_out: Path | None) -> str:
    where = f"; their ids are in {ids_out}" if ids_out else ""
    if exc.posted >= len(numbers):
        return f"{exc.detail}{where}"
    resume = numbers[exc.posted]
    return (
        f"{exc.detail}. {exc.posted} lines were posted{where}; the batch from line {resume} on "
        "may have been written too, its reply lost (intake keeps one outcome per event_id, so "
        "lines with one are safe to post again). "
        f"Resume with: baton post --file ... --from-line {resume}"
    )


def _progress(total: int, *, quiet: bool) -> Progress | None:
    """A progress bar on a terminal (stderr), none otherwise."""
    if quiet or not sys.stderr.isatty():
        return None
    progress = Progress(
        TextColumn("posting"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
        transient=True,
    )  # fmt: skip
    progress.add_task("post", total=total)
    return progress


def _outcome_fields(outcome: EventOutcome) -> dict[str, Any]:
    return {"status": outcome.status, "reason": outcome.reason, "outcome": outcome.entry}


def _describe(result: dict[str, Any]) -> str:
    outcome = result.get("outcome") or {}
    status = result.get("status")
    if status == "responded":
        response = outcome.get("response", {})
        category, reply = response.get("category"), response.get("reply")
        return f"{result['event_id']}  responded [{category}]\n{reply}"
    reason = result.get("reason") or ""
    return f"{result['event_id']}  {status} {reason}".rstrip()
