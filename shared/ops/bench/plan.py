"""The whole benchmark: which runs, in which order, and how their figures are combined.

Per Redis configuration (no AOF, then ``appendfsync always``): start Redis, Baton's services and
the raw ceiling's stages; warm both up; then interleave ``reps`` drain runs (Baton, raw, Baton,
raw...) and take medians; then a fixed-rate latency run of each. Then, on a Redis without AOF,
the LLM-bound sweep. Every run is audited for completeness.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
from redis.asyncio import Redis

from shared.ops.bench import llm, phases, streams
from shared.ops.bench.profile import Profiler, hottest
from shared.ops.bench.runner import BenchRedis, Procs
from shared.ops.bench.stats import median, ratio, spread
from shared.ops.embedded import Fsync
from shared.runtime import eventloop
from shared.runtime.redis_client import connect

AofMode = Literal["both", "off", "only"]
CONFIGS: dict[str, Fsync | None] = {"no_aof": None, "aof_always": "always"}


@dataclass(frozen=True)
class BenchConfig:
    events: int = 20_000
    reps: int = 3
    warmup_events: int = 500
    rate: float = 500.0
    latency_s: float = 12.0
    warmup_s: float = 3.0
    replicas: int = 1
    concurrency: int | None = None
    batch_size: int = 100
    aof: AofMode = "both"
    llm_concurrency: tuple[int, ...] = (1, 100, 500)
    llm_delay_ms: float = 200.0
    llm_seconds: float = 8.0
    profile: bool = False
    out_dir: Path = Path("bench-results")
    quick: bool = False
    worker_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def quick_config(cls, **overrides: Any) -> BenchConfig:
        small = {"events": 1000, "reps": 1, "warmup_events": 100, "rate": 200.0,
                 "latency_s": 3.0, "warmup_s": 1.0, "llm_concurrency": (1, 20),
                 "llm_seconds": 2.0, "quick": True}  # fmt: skip
        return cls(**{**small, **overrides})

    def baton_env(self) -> dict[str, str]:
        env = {"BATON_LLM": "offline", "BATON_LOG_LEVEL": "warning", "BATON_LOG_FORMAT": "json",
               "BATON_BATCH_SIZE": str(self.batch_size)}  # fmt: skip
        if self.concurrency is not None:
            env["BATON_CONCURRENCY"] = str(self.concurrency)
        return {**env, **self.worker_env}


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [r["events_per_s"] for r in runs]
    cpu_keys = runs[0]["cpu_us_per_event"].keys()
    return {
        "events_per_s": round(median(rates), 1),
        "min": min(rates),
        "max": max(rates),
        "spread": round(spread(rates), 3),
        "cpu_us_per_event": {
            k: round(median([r["cpu_us_per_event"][k] for r in runs]), 1) for k in cpu_keys
        },
        "redis_commands": {
            k: round(median([census_total(r["redis_commands_per_event"], k) for r in runs]), 1)
            for k in ("calls", "usec")
        },
        "runs": runs,
    }


def census_total(census: dict[str, dict[str, float]], key: str) -> float:
    """All commands' ``calls`` or ``usec`` per event, from a run's Redis command census."""
    return sum(command[key] for command in census.values())


def _ratios(baton: dict[str, Any], raw: dict[str, Any]) -> dict[str, float]:
    out = {"events_per_s": ratio(baton["events_per_s"], raw["events_per_s"])}
    for key in ("workers", "redis"):
        out[f"cpu_{key}"] = ratio(baton["cpu_us_per_event"][key], raw["cpu_us_per_event"][key])
    return {k: round(v, 3) for k, v in out.items()}


HOP_SOURCES = ("handoffs:intake", "triage", "handoffs:triage", "responder",
               "handoffs:responder", "responses")  # fmt: skip
"""Where Baton's entry of each hop (1..6) is found: handoffs are told apart by their origin."""


async def _hop_bytes(redis: Redis, prefix: str) -> list[int]:
    """Mean entry size (field names and values) at each of Baton's six hops, from a sample."""
    sizes: dict[str, list[int]] = {}
    for name in ("handoffs", "triage", "responder", "responses"):
        for _, fields in await streams.entries(redis, f"{prefix}:{name}", count=300):
            source = name
            if name == "handoffs":
                source = f"handoffs:{orjson.loads(fields[b'envelope']).get('stage', '?')}"
            sizes.setdefault(source, []).append(sum(len(k) + len(v) for k, v in fields.items()))
    return [int(sum(v) / len(v)) if (v := sizes.get(s)) else 256 for s in HOP_SOURCES]


class Bench:
    def __init__(self, config: BenchConfig, run_dir: Path) -> None:
        self.config = config
        self.run_dir = run_dir
        self.log_dir = run_dir / "logs"

    async def run(self) -> dict[str, Any]:
        cfg = self.config
        result: dict[str, Any] = {"meta": self._meta(), "configs": {}, "llm": None}
        names = {"both": ["no_aof", "aof_always"], "off": ["no_aof"],
                 "only": ["aof_always"]}[cfg.aof]  # fmt: skip
        for name in names:
            result["configs"][name] = await self._config_run(name, CONFIGS[name])
        if cfg.llm_concurrency:
            result["llm"] = await self._llm_sweep()
        result["meta"]["load_average_end"] = os.getloadavg()
        return result

    def _meta(self) -> dict[str, Any]:
        cfg = self.config
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
        return {
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "event_loop": eventloop.loop_name(),
            "load_average_start": os.getloadavg(),
            "settings": settings,
            "worker_env": cfg.baton_env(),
        }

    async def _config_run(self, name: str, fsync: Fsync | None) -> dict[str, Any]:
        cfg = self.config
        server = BenchRedis(self.run_dir / f"redis-{name}", appendfsync=fsync)
        server.start()
        assert server.pid is not None
        redis = connect(server.url, max_connections=8, block_ms=2000)
        reader = connect(server.url, max_connections=2, block_ms=2000)
        baton_procs = Procs(self.log_dir / f"{name}-baton")
        raw_procs = Procs(self.log_dir / f"{name}-raw")
        try:
            info = await redis.info("server")
            baton = phases.start_baton(baton_procs, server.url, "bench-b", server.pid,
                                       cfg.replicas, cfg.baton_env())  # fmt: skip
            await phases.wait_ready(redis, baton)
            await self._warm(redis, baton)
            sizes = await _hop_bytes(redis, baton.prefix)
            await phases.cleanup(redis, baton.keys)
            raw = phases.start_raw(raw_procs, server.url, "bench-r", server.pid, cfg.replicas,
                                   sizes, cfg.batch_size)  # fmt: skip
            await phases.wait_ready(redis, raw)
            await self._warm(redis, raw)
            out = await self._measure(redis, reader, baton, raw, name)
            out.update(redis_version=info.get("redis_version"), appendfsync=fsync or "off",
                       hop_bytes=sizes)  # fmt: skip
            return out
        finally:
            baton_procs.stop()
            raw_procs.stop()
            await reader.aclose()
            await redis.aclose()
            server.stop()
            shutil.rmtree(server.data_dir / "appendonlydir", ignore_errors=True)  # can be GBs

    async def _warm(self, redis: Redis, fleet: phases.Fleet) -> None:
        run = await phases.drain(redis, fleet, self.config.warmup_events, f"{fleet.kind}-warm")
        if not run["complete"]["ok"]:
            raise phases.BenchError(f"{fleet.kind} warm-up incomplete: {run['complete']}")
        await phases.cleanup(redis, fleet.keys)

    async def _measure(
        self, redis: Redis, reader: Redis, baton: phases.Fleet, raw: phases.Fleet, name: str
    ) -> dict[str, Any]:
        cfg = self.config
        runs: dict[str, list[dict[str, Any]]] = {"baton": [], "raw": []}
        for rep in range(cfg.reps):
            for fleet in (baton, raw):
                run = await phases.drain(redis, fleet, cfg.events, f"{fleet.kind}-d{rep}")
                runs[fleet.kind].append(run)
                await phases.cleanup(redis, fleet.keys)
        throughput = {kind: _median_run(r) for kind, r in runs.items()}
        throughput["ratio"] = _ratios(throughput["baton"], throughput["raw"])
        latency: dict[str, Any] = {}
        measure_s = max(cfg.latency_s - cfg.warmup_s, 1.0)
        for fleet in (baton, raw):
            latency[fleet.kind] = await phases.paced(
                redis, reader, fleet, cfg.rate, cfg.warmup_s, measure_s, f"{fleet.kind}-l"
            )
            await phases.cleanup(redis, fleet.keys)
        latency["ratio"] = {
            k: round(ratio(latency["baton"]["latency"][k], latency["raw"]["latency"][k]), 3)
            for k in ("p50_ms", "p90_ms", "p99_ms")
        }
        out: dict[str, Any] = {"throughput": throughput, "latency": latency}
        if cfg.profile and name == "no_aof":
            out["profile"] = await self._profile(redis, baton, name)
        out["peak_rss_mib"] = {"baton": baton.peak_rss(), "raw": raw.peak_rss()}
        return out

    async def _profile(self, redis: Redis, fleet: phases.Fleet, name: str) -> dict[str, Any]:
        """An extra drain (not in the medians) with py-spy attached to every worker."""
        profiler = Profiler(self.run_dir / "profile" / name)
        files = {p.role: profiler.attach(p.role, p.pid) for p in fleet.procs.procs}
        try:
            await asyncio.sleep(1.0)  # py-spy attaches
            run = await phases.drain(redis, fleet, self.config.events, "baton-profile")
        finally:
            profiler.stop()
        await phases.cleanup(redis, fleet.keys)
        hot = {role: _hot_dict(path) for role, path in files.items() if path and path.exists()}
        return {"run": run, "hottest": hot}

    async def _llm_sweep(self) -> dict[str, Any]:
        cfg = self.config
        server = BenchRedis(self.run_dir / "redis-llm", appendfsync=None)
        server.start()
        assert server.pid is not None
        helpers = Procs(self.log_dir / "llm-helpers")
        redis = connect(server.url, max_connections=8, block_ms=2000)
        reader = connect(server.url, max_connections=2, block_ms=2000)
        delay_s = cfg.llm_delay_ms / 1000
        points = []
        try:
            fake = llm.FakeServer(helpers, llm.write_script(self.run_dir / "fake-script.json",
                                                            delay_s))  # fmt: skip
            await fake.wait_ready()
            for concurrency in cfg.llm_concurrency:
                points.append(await llm.sweep_point(
                    redis, reader, fake, url=server.url, redis_pid=server.pid,
                    log_dir=self.log_dir, concurrency=concurrency, delay_s=delay_s,
                    duration_s=cfg.llm_seconds, replicas=cfg.replicas,
                ))  # fmt: skip
        finally:
            helpers.stop()
            await reader.aclose()
            await redis.aclose()
            server.stop()
        return {"delay_ms": cfg.llm_delay_ms, "seconds": cfg.llm_seconds, "points": points}


def _hot_dict(path: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        kind: [{"function": h.function, "share": round(h.share, 4)} for h in items]
        for kind, items in hottest(path, top=20).items()
    }
