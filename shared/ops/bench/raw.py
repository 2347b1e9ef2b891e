"""The raw ceiling: Baton's topology and hops, moved by a minimal batched loop with no processing.

Four stage processes, one per service, read the same streams as the same consumer groups as
Baton's services do, and route an event over the same six hops::

    intake -> handoffs -> (validator) -> triage -> handoffs -> (validator) -> responder
           -> handoffs -> (validator) -> responses

Each batch is one ``XREADGROUP COUNT c BLOCK``, then one MULTI/EXEC holding an XADD per entry and
one XACK for all of them (output and acknowledgement commit together, as in Baton). Nothing is
parsed: each output carries the ``event_id`` bytes, the hop number and a constant payload of the
size Baton's entry has at that hop, so the same bytes move. There is no ownership fence, run
record, reclaiming, validation or tracing: it is a floor, not a runtime.

Run as ``python -m shared.ops.bench.raw --url URL --prefix P --stage NAME --sizes a,b,c,d,e,f``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from redis.asyncio import Redis

from services.pipeline import PIPELINE
from shared.ops.bench.streams import Entry, read_group
from shared.pipeline.keys import Keys
from shared.runtime import eventloop, heap
from shared.runtime.redis_client import ensure_group

HOPS = 6
ROUTES: dict[str, dict[int, str]] = {
    "intake": {0: "handoffs"},
    "validator": {1: "triage", 3: "responder", 5: "responses"},
    "triage": {2: "handoffs"},
    "responder": {4: "handoffs"},
}
"""Per stage: the hop number of an input entry -> the stream its output goes to."""

ENTRY_OVERHEAD = len(b"event_id") + len(b"hop") + len(b"payload") + 1
"""Bytes of an output entry besides the event id and the payload (field names, hop digit)."""


def input_stream(keys: Keys, stage: str) -> str:
    return keys.stream(PIPELINE.input_stream(stage))


def ready_key(prefix: str, stage: str, pid: int | str) -> str:
    """Set by a stage once its group exists (``pid="*"`` gives the pattern)."""
    return f"{prefix}:bench:ready:{stage}:{pid}"


def paddings(sizes: list[int], event_id_len: int) -> dict[int, bytes]:
    """The constant payload of each output hop (1..6), so entry ``k`` weighs ``sizes[k-1]``."""
    if len(sizes) != HOPS:
        raise ValueError(f"need {HOPS} sizes, got {len(sizes)}")
    return {
        hop: b"x" * max(1, size - ENTRY_OVERHEAD - event_id_len)
        for hop, size in enumerate(sizes, start=1)
    }


class RawStage:
    """One stage process of the raw pipeline."""

    def __init__(self, url: str, prefix: str, stage: str, count: int, pads: dict[int, bytes]):
        self.keys = Keys(prefix)
        self.prefix = prefix
        self.stage = stage
        self.group = stage
        self.stream = input_stream(self.keys, stage)
        self.consumer = f"raw-{os.getpid()}"
        self.count = count
        self.routes = {hop: self.keys.stream(name) for hop, name in ROUTES[stage].items()}
        self.pads = pads
        self.hop_bytes = {hop: str(hop).encode() for hop in range(HOPS + 1)}
        self.redis = Redis.from_url(url)
        self.reader = Redis.from_url(url, socket_timeout=30)

    async def prepare(self) -> None:
        await ensure_group(self.redis, self.stream, self.group)
        await self.redis.set(ready_key(self.prefix, self.stage, os.getpid()), 1, ex=3600)

    async def serve(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batch = await read_group(
                self.reader, self.group, self.consumer, self.stream, self.count, 500
            )
            if batch:
                await self.commit(batch)

    async def commit(self, entries: list[Entry]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            ids = []
            for entry_id, fields in entries:
                hop = int(fields[b"hop"]) + 1
                out = {
                    b"event_id": fields[b"event_id"],
                    b"hop": self.hop_bytes[hop],
                    b"payload": self.pads[hop],
                }
                pipe.xadd(self.routes[hop - 1], out)  # type: ignore[arg-type]
                ids.append(entry_id)
            pipe.xack(self.stream, self.group, *ids)
            await pipe.execute()

    async def close(self) -> None:
        await self.reader.aclose()
        await self.redis.aclose()


async def _main(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    stage = RawStage(
        args.url, args.prefix, args.stage, args.count, paddings(sizes, args.event_id_len)
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stage.prepare()
        await stage.serve(stop)
    finally:
        await stage.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="raw ceiling stage (benchmark only)")
    parser.add_argument("--url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--stage", required=True, choices=sorted(ROUTES))
    parser.add_argument("--count", type=int, default=100, help="entries per XREADGROUP")
    parser.add_argument("--sizes", required=True, help="bytes of the entry at hops 1..6")
    parser.add_argument("--event-id-len", type=int, default=16)
    args = parser.parse_args(argv)
    heap.tune()  # as the services do (shared/service.py): a fair ceiling
    eventloop.run(_main(args))


if __name__ == "__main__":
    main()
