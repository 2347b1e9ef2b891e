"""F3: SIGTERM under load: the worker finishes (or hands back) its events and exits 0 in time."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from services.pipeline import PIPELINE
from shared.pipeline.keys import Keys
from shared.runtime.delivery import as_text
from tests.audit import publish_figures, settled
from tests.fault.load import Producer
from tests.fault.processes import FAULT_ENV, Fleet, WorkerProcess, rigged, wait_any_logged
from tests.helpers import wait_for

pytestmark = [pytest.mark.fault, pytest.mark.timeout(150)]

GRACE_S = float(FAULT_ENV["BATON_SHUTDOWN_GRACE_S"])
# Every event takes a while in every stage, so a SIGTERM always finds work in flight.
SLOW = {"FAULT_SLOW_S": "0.3"}
# ...and on triage, marked events hang (first delivery only) well past the grace period: the
# stopped replica must give them up, the other one finishes its own after the hold.
HANG = {**SLOW, "FAULT_MODE": "hold", "FAULT_MARKER": "hang", "FAULT_HOLD_S": str(GRACE_S + 7)}


async def busy_replica(client: Redis, keys: Keys, fleet: Fleet, service: str) -> WorkerProcess:
    """A live replica of ``service`` with events in flight right now (its pending entries), so
    the SIGTERM it gets finds work to finish: waiting for one keeps the test meaningful."""
    found: list[WorkerProcess] = []

    async def busy() -> bool:
        stream = keys.stream(PIPELINE.input_stream(service))
        consumers = await client.xinfo_consumers(stream, service)
        owners = {as_text(c["name"]) for c in consumers if int(c["pending"]) > 0}
        found[:] = [w for w in fleet.of(service)
                    if any(f"-{w.pid}-" in name for name in owners)]  # fmt: skip
        return bool(found)

    await wait_for(busy, timeout=30, interval=0.01)
    return found[0]


async def stop_and_time(worker: WorkerProcess) -> tuple[int | None, float]:
    started = time.monotonic()
    worker.terminate()
    code = await worker.wait_exit(timeout=GRACE_S + 30)
    return code, time.monotonic() - started


async def test_sigterm_under_load_exits_zero_within_grace_and_loses_nothing(
    fleet: Fleet, client: Redis, keys: Keys, tmp_path: Path
) -> None:
    for service in PIPELINE.services:
        for _ in range(2):
            fleet.spawn(service, rigged(service), env=HANG if service == "triage" else SLOW)
    await fleet.wait_started()
    producer = Producer(client, keys)
    stop = asyncio.Event()
    posting = asyncio.create_task(producer.post_until("term", stop, rate_per_s=100))
    hanging = ["hang-1", "hang-2", "hang-3", "hang-4"]
    for event_id in hanging:
        await producer.post(event_id)
    # The triage replica to stop is one holding a hanging event.
    hung, _ = await wait_any_logged(fleet.of("triage"), "fault_holding", timeout=30)
    exits: dict[str, tuple[int | None, float]] = {}
    drained: dict[str, int] = {}
    try:
        for service in ("triage", "intake", "responder", "validator"):
            worker = (
                hung if service == "triage" else await busy_replica(client, keys, fleet, service)
            )
            exits[service] = await stop_and_time(worker)
            drained[service] = sum(r["inflight"] for r in worker.logged("draining"))
            fleet.replace(worker)
    finally:
        stop.set()
        await posting
    report = await settled(client, keys, producer.acknowledged, timeout=90)

    publish_figures(
        "graceful_stop",
        {**report.figures(), "exit_codes": {s: c for s, (c, _) in exits.items()},
         "exit_s": {s: round(t, 2) for s, (_, t) in exits.items()},
         "drained_inflight": drained, "grace_s": GRACE_S,
         "left_pending": fleet.count("left_pending_for_peers")},
        tmp_path,
    )  # fmt: skip
    report.assert_ok()
    for service, (code, seconds) in exits.items():
        assert code == 0, f"{service} exited {code}"
        # Within the grace period, plus a little for the shutdown itself on a busy machine.
        assert seconds <= GRACE_S + 3.0, f"{service} took {seconds:.1f}s to stop"
        assert drained[service] > 0, f"{service} had nothing in flight: the test proved nothing"
    # The hanging event outlived the grace period: it was left pending, a peer took it over.
    assert fleet.count("left_pending_for_peers") >= 1
    assert report.max_delivery() <= 2, "a graceful stop costs at most one extra delivery"
    assert not fleet.crashed()
    assert not fleet.tracebacks()
