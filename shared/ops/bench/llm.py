"""LLM-bound mode: the real services with ``BATON_LLM=openai`` against the fake OpenAI server.

The fake server (``python -m shared.ops.bench.fake_llm``, the benchmark's own lean one) answers
every
call after a fixed delay, with a valid reply for each agent's contract, so every event makes the
same six hops as offline. For each concurrency ``c`` (``BATON_CONCURRENCY``, events in flight per
worker) a fresh fleet runs while a closed loop keeps ``3c`` events in the pipeline (``c`` per LLM
stage); events/s is the rate of the middle 80% of arrivals (no ramp-up, no final drain), compared
with the ideal ``c / delay`` (one agent stage at full concurrency).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from services.pipeline import PIPELINE
from shared.ops.bench import audit
from shared.ops.bench.load import Collector, post_closed_loop
from shared.ops.bench.phases import BenchError, Fleet, start_baton, wait_ready
from shared.ops.bench.resources import CpuSnapshot, cpu_us_per_event
from shared.ops.bench.runner import Procs, clean_env
from shared.ops.bench.stats import summary_ms
from shared.ops.embedded import free_port

FAKE_MODULE = "shared.ops.bench.fake_llm"

# One valid reply per agent contract (json_schema name = the contract's class name).
REPLIES: dict[str, dict[str, Any]] = {
    "Screening": {"language": "en", "injection_risk": 0.0, "injection_signals": [],
                  "summary": "Customer was charged twice", "key_facts": ["charged twice"]},
    "TriageResult": {"category": "billing", "priority": "normal", "confidence": 0.9,
                     "route": "respond", "human_requested": False, "reasons": ["invoice"],
                     "summary": "Double charge on an invoice", "key_facts": ["charged twice"]},
    "ResponderResult": {"reply": "Sorry about the double charge: we are refunding it now.",
                        "language": "en", "follow_up_questions": []},
}  # fmt: skip


def write_script(path: Path, delay_s: float) -> Path:
    defaults = [
        {"kind": "reply", "content": content, "delay_s": delay_s, "schema_name": name}
        for name, content in REPLIES.items()
    ]
    path.write_text(json.dumps({"defaults": defaults}))
    return path


class FakeServer:
    """The fake OpenAI-compatible server as a child process on a free loopback port."""

    def __init__(self, procs: Procs, script: Path) -> None:
        self.port = free_port()
        argv = ["-m", FAKE_MODULE, "--port", str(self.port), "--script", str(script)]
        self.proc = procs.spawn("fake-openai", argv, clean_env({}))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _health(self) -> None:
        url = f"http://127.0.0.1:{self.port}/_admin/health"
        with urllib.request.urlopen(url, timeout=5) as response:
            response.read()

    async def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.proc.alive:
                raise BenchError(f"the fake OpenAI server exited; see {self.proc.log_path}")
            try:
                await asyncio.to_thread(self._health)
                return
            except OSError:
                await asyncio.sleep(0.1)
        raise BenchError(f"the fake OpenAI server did not answer within {timeout_s}s")


def steady_rate(arrivals: list[float]) -> float:
    """Events/s over the middle 80% of arrivals: leaves out the ramp-up and the final drain."""
    if len(arrivals) < 2:
        return 0.0
    first, last = (len(arrivals) // 10, len(arrivals) - 1 - len(arrivals) // 10)
    if last <= first:
        first, last = 0, len(arrivals) - 1
    return (last - first) / max(arrivals[last] - arrivals[first], 1e-3)


async def sweep_point(
    redis: Redis, reader: Redis, fake: FakeServer, *, url: str, redis_pid: int, log_dir: Path,
    concurrency: int, delay_s: float, duration_s: float, replicas: int,
    on_ready: Callable[[Fleet], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One concurrency: a fresh fleet, a closed loop for ``duration_s``, then a full drain."""
    prefix = f"bench-llm-{concurrency}"
    procs = Procs(log_dir / f"llm-{concurrency}")
    env = {"BATON_LLM": "openai", "OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "sk-bench",
           "BATON_CONCURRENCY": str(concurrency), "BATON_LOG_LEVEL": "warning",
           "BATON_LOG_FORMAT": "json"}  # fmt: skip
    fleet = start_baton(procs, url, prefix, redis_pid, replicas, env)
    try:
        await wait_ready(redis, fleet)
        if on_ready is not None:
            on_ready(fleet)
        return await _measure(redis, reader, fleet.keys.prefix, fleet, fake, concurrency,
                              delay_s, duration_s)  # fmt: skip
    finally:
        procs.stop()


async def _measure(
    redis: Redis, reader: Redis, tag: str, fleet: Fleet, fake: FakeServer, concurrency: int,
    delay_s: float, duration_s: float,
) -> dict[str, Any]:  # fmt: skip
    keys = fleet.keys
    window = asyncio.Semaphore(3 * concurrency)
    collector = Collector(reader, [keys.stream(n) for n in audit.TERMINALS], window)
    marks = await audit.terminal_marks(redis, keys)
    await collector.start()
    pids = [*fleet.procs.pids, fleet.redis_pid, fake.proc.pid]
    before = CpuSnapshot.take(pids)
    ideal = concurrency / delay_s
    try:
        entry = keys.stream(PIPELINE.entry_stream)
        sent = await post_closed_loop(redis, entry, fleet.entry, tag, window, duration_s,
                                      max_events=int(ideal * duration_s * 2) + 100)  # fmt: skip
        await collector.wait_for(sent.order, stall_s=30.0, cap_s=240.0)
    finally:
        await collector.stop()
    after = CpuSnapshot.take(pids)
    rate = steady_rate(sorted(collector.mono.values()))
    groups = {**fleet.cpu_groups(), "fake_openai": [fake.proc.pid]}
    workers = fleet.procs.by_role()
    cpu = cpu_us_per_event(before, after, groups, len(sent.order))
    latencies = [collector.mono[e] - sent.mono[e] for e in sent.order if e in collector.mono]
    completeness = await audit.check(redis, keys, sent.order, marks)
    return {
        "concurrency": concurrency,
        "events": len(sent.order),
        "events_per_s": round(rate, 1),
        "ideal_events_per_s": round(ideal, 1),
        "of_ideal": round(rate / ideal, 3),
        "latency": summary_ms(latencies),
        "cpu_us_per_event": {**cpu, "workers": round(sum(cpu[k] for k in workers), 1)},
        "peak_rss_mib": fleet.peak_rss(),
        "complete": completeness.as_dict(),
    }
