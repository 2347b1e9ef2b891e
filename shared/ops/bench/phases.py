"""One system under test (Baton's services, or the raw ceiling) and its measured runs.

* :func:`drain`: N events preloaded while the workers are frozen (SIGSTOP), then released at once
  (SIGCONT): events/s is stage capacity, measured from the release to the N-th outcome.
* :func:`paced`: events posted at a fixed rate; the first ``warmup_s`` seconds are left out of the
  percentiles (but must still arrive).

Both audit completeness and count CPU per event of every worker and of Redis in their window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from redis.asyncio import Redis

from services.pipeline import PIPELINE
from shared.errors import BatonError
from shared.ops.bench import audit, streams
from shared.ops.bench.load import (
    Collector,
    EntryMaker,
    baton_entry,
    event_ids,
    post_paced,
    preload,
    raw_entry,
)
from shared.ops.bench.raw import ready_key
from shared.ops.bench.resources import CpuSnapshot, command_census, cpu_us_per_event, peak_rss_mib
from shared.ops.bench.runner import Procs, clean_env
from shared.ops.bench.stats import summary_ms
from shared.pipeline.keys import Keys
from shared.runtime.redis_client import unlink_matching

Kind = Literal["baton", "raw"]
STALL_S = 30.0
CAP_S = 600.0


class BenchError(BatonError):
    """The benchmark could not run (a worker died, Redis would not start...)."""


@dataclass
class Fleet:
    """The worker processes of one system under one key prefix."""

    kind: Kind
    prefix: str
    procs: Procs
    redis_pid: int
    replicas: int

    @property
    def keys(self) -> Keys:
        return Keys(self.prefix)

    @property
    def entry(self) -> EntryMaker:
        return baton_entry if self.kind == "baton" else raw_entry

    def cpu_groups(self) -> dict[str, list[int]]:
        return {**self.procs.by_role(), "redis": [self.redis_pid]}

    def peak_rss(self) -> dict[str, float]:
        """Largest peak RSS (MiB) among each service's processes."""
        return {
            role: round(max(peak_rss_mib(pid) for pid in pids), 1)
            for role, pids in self.procs.by_role().items()
        }


def start_baton(
    procs: Procs, url: str, prefix: str, redis_pid: int, replicas: int, env: Mapping[str, str]
) -> Fleet:
    """The real services, ``python -m services.<name>``, ``replicas`` processes each."""
    full = clean_env({"REDIS_URL": url, "BATON_PREFIX": prefix, **env})
    for service in PIPELINE.services:
        for _ in range(replicas):
            procs.spawn(service, ["-m", f"services.{service}"], full)
    return Fleet("baton", prefix, procs, redis_pid, replicas)


def start_raw(
    procs: Procs, url: str, prefix: str, redis_pid: int, replicas: int, sizes: list[int],
    count: int,
) -> Fleet:  # fmt: skip
    """The raw ceiling's stage processes, on the same streams and groups as Baton's."""
    sizes_arg = ",".join(str(s) for s in sizes)
    for service in PIPELINE.services:
        for _ in range(replicas):
            argv = ["-m", "shared.ops.bench.raw", "--url", url, "--prefix", prefix,
                    "--stage", service, "--count", str(count), "--sizes", sizes_arg]  # fmt: skip
            procs.spawn(service, argv, clean_env({}))
    return Fleet("raw", prefix, procs, redis_pid, replicas)


async def wait_ready(redis: Redis, fleet: Fleet, timeout_s: float = 90.0) -> None:
    """Until every worker announced itself (Baton: its heartbeat; raw: its ready key)."""
    keys = fleet.keys
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if fleet.procs.exited():
            raise BenchError(f"{fleet.kind} worker exited at start: {fleet.procs.exited()}; "
                             f"logs: {fleet.procs.log_tail()}")  # fmt: skip
        ready = 0
        for service in PIPELINE.services:
            if fleet.kind == "baton":
                pattern = keys.heartbeat_pattern(service)
            else:
                pattern = ready_key(fleet.prefix, service, "*")
            found = [k async for k in redis.scan_iter(match=pattern, count=1000)]
            ready += min(len(found), fleet.replicas)
        if ready == len(PIPELINE.services) * fleet.replicas:
            return
        await asyncio.sleep(0.1)
    raise BenchError(
        f"{fleet.kind} workers not ready within {timeout_s}s: {fleet.procs.log_tail()}"
    )


async def _terminal_total(redis: Redis, keys: Keys) -> int:
    async with redis.pipeline(transaction=False) as pipe:
        for name in audit.TERMINALS:
            pipe.xlen(keys.stream(name))
        return sum(int(n) for n in await pipe.execute())


async def _last_outcome_wall(redis: Redis, keys: Keys) -> float:
    """Server time (entry id) of the newest terminal entry, in epoch seconds."""
    newest = 0
    for name in audit.TERMINALS:
        last = await streams.last_id(redis, keys.stream(name))
        if last:
            newest = max(newest, int(last.split(b"-")[0]))
    return newest / 1000


async def _wait_total(redis: Redis, fleet: Fleet, target: int) -> bool:
    last, progress = -1, time.monotonic()
    deadline = time.monotonic() + CAP_S
    while time.monotonic() < deadline:
        total = await _terminal_total(redis, fleet.keys)
        if total >= target:
            return True
        if total != last:
            last, progress = total, time.monotonic()
        elif time.monotonic() - progress > STALL_S or fleet.procs.exited():
            return False
        await asyncio.sleep(0.005)
    return False


async def drain(redis: Redis, fleet: Fleet, count: int, tag: str) -> dict[str, Any]:
    """Preload ``count`` events with the workers frozen, release them, time the drain."""
    keys = fleet.keys
    ids = event_ids(tag, count)
    entries = [fleet.entry(e, n) for n, e in enumerate(ids)]
    marks = await audit.terminal_marks(redis, keys)
    base = await _terminal_total(redis, keys)
    fleet.procs.pause()
    try:
        await preload(redis, keys.stream(PIPELINE.entry_stream), entries)
        commands_before = await redis.info("commandstats")
        before = CpuSnapshot.take([*fleet.procs.pids, fleet.redis_pid])
        started = time.time()
    finally:
        fleet.procs.resume()
    finished = await _wait_total(redis, fleet, base + count)
    after = CpuSnapshot.take([*fleet.procs.pids, fleet.redis_pid])
    commands = command_census(commands_before, await redis.info("commandstats"), count)
    seconds = max(await _last_outcome_wall(redis, keys) - started, 1e-3)
    completeness = await audit.check(redis, keys, ids, marks)
    cpu = cpu_us_per_event(before, after, fleet.cpu_groups(), count)
    return {
        "events": count,
        "seconds": round(seconds, 3),
        "events_per_s": round(count / seconds, 1) if finished else 0.0,
        "cpu_us_per_event": _with_total(cpu),
        "redis_commands_per_event": commands,
        "complete": completeness.as_dict(),
    }


async def paced(
    redis: Redis, reader: Redis, fleet: Fleet, rate: float, warmup_s: float, measure_s: float,
    tag: str,
) -> dict[str, Any]:  # fmt: skip
    """Post at ``rate``/s for ``warmup_s + measure_s``; latencies of the measured part."""
    keys = fleet.keys
    warm = int(rate * warmup_s)
    ids = event_ids(tag, warm + int(rate * measure_s))
    marks = await audit.terminal_marks(redis, keys)
    collector = Collector(reader, [keys.stream(n) for n in audit.TERMINALS])
    await collector.start()
    before = CpuSnapshot.take([*fleet.procs.pids, fleet.redis_pid])
    try:
        sent = await post_paced(redis, keys.stream(PIPELINE.entry_stream), fleet.entry, ids, rate)
        await collector.wait_for(ids, STALL_S, CAP_S)
    finally:
        await collector.stop()
    after = CpuSnapshot.take([*fleet.procs.pids, fleet.redis_pid])
    measured = [e for e in ids[warm:] if e in collector.mono]
    e2e = [collector.mono[e] - sent.mono[e] for e in measured]
    result: dict[str, Any] = {
        "rate": rate,
        "events": len(ids),
        "measured": len(measured),
        "warmup_s": warmup_s,
        "latency": summary_ms(e2e),
        "cpu_us_per_event": _with_total(
            cpu_us_per_event(before, after, fleet.cpu_groups(), len(ids))
        ),
    }
    if fleet.kind == "baton":
        result["stages"] = await stage_segments(redis, keys, measured, sent.wall, collector.wall)
    result["complete"] = (await audit.check(redis, keys, ids, marks)).as_dict()
    return result


async def stage_segments(
    redis: Redis, keys: Keys, ids: list[str], sent: dict[str, float], arrived: dict[str, float]
) -> dict[str, dict[str, float]]:
    """Each hop's share of the latency, from the run records' step times.

    A hop's segment runs from the previous step's end (or the post) to its own step's end: the
    previous commit, the read, any queueing and its processing. ``deliver`` is the last commit
    and the read of the outcome.
    """
    segments: dict[str, list[float]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        async with redis.pipeline(transaction=False) as pipe:
            for event_id in chunk:
                pipe.lrange(keys.run_steps(event_id), 0, -1)
            replies = await pipe.execute()
        for event_id, raw_steps in zip(chunk, replies, strict=True):
            previous, before = sent[event_id], "post"
            for raw in raw_steps:
                step = orjson.loads(raw)
                stage = step["stage"]
                label = f"validator({before})" if stage == "validator" else stage
                segments.setdefault(label, []).append(step["ended_at"] - previous)
                previous, before = step["ended_at"], stage
            segments.setdefault("deliver", []).append(arrived[event_id] - previous)
    return {label: summary_ms(values) for label, values in segments.items()}


async def cleanup(redis: Redis, keys: Keys) -> None:
    """Empty the streams (groups stay) and drop run records between runs, to bound memory."""
    for stream in [keys.stream(n) for n in PIPELINE.streams()]:
        if await redis.exists(stream):
            await redis.xtrim(stream, maxlen=0, approximate=False)
    for pattern in ("run:*", "seen:*", "budget:*"):
        await unlink_matching(redis, f"{keys.prefix}:{pattern}", batch_size=2000)


def _with_total(cpu: dict[str, float]) -> dict[str, float]:
    workers = sum(v for k, v in cpu.items() if k != "redis")
    return {**cpu, "workers": round(workers, 1)}
