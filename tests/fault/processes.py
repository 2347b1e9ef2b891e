"""Real worker processes for tests: start, signal, restart and read the logs of service replicas.

Each worker is ``python -m <module> [args]`` run from the repository root with a clean environment
(no inherited ``REDIS_URL`` or ``BATON_*``), JSON logs on an unbuffered stdout redirected to a file
per process, and the offline LLM. A :class:`Fleet` owns every process it started and stops them all
on exit, so a failing test never leaves workers behind. Usable by any test tier (fault, e2e, bench).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from services.pipeline import PIPELINE

REPO_ROOT = Path(__file__).resolve().parents[2]

# Fast but safe timings for fault tests on a slow, shared machine: the reclaim idle time stays well
# above the LLM timeout and the keep-alive period (reclaim_idle / 4), so healthy work is not stolen.
FAULT_ENV: dict[str, str] = {
    "BATON_LLM": "offline",
    "BATON_LOG_FORMAT": "json",
    "BATON_LOG_LEVEL": "info",
    "BATON_BLOCK_MS": "200",
    "BATON_LLM_TIMEOUT_S": "1.0",
    "BATON_RECLAIM_IDLE_MS": "2000",
    "BATON_RECLAIM_INTERVAL_S": "0.5",
    "BATON_RETRY_BASE_S": "0.05",
    "BATON_RETRY_CAP_S": "0.5",
    "BATON_SHUTDOWN_GRACE_S": "5",
    "BATON_HEARTBEAT_TTL_S": "3",
    "BATON_MAX_DELIVERIES": "5",
}

_SCRUBBED = ("REDIS_URL", "BATON_", "OPENAI_", "OTEL_")


def worker_env(url: str, prefix: str, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker: this process's, minus Baton/Redis/LLM settings, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
    env.update(FAULT_ENV)
    env.update({"REDIS_URL": url, "BATON_PREFIX": prefix, "PYTHONUNBUFFERED": "1"})
    env.update(overrides or {})
    return env


def service_module(service: str) -> list[str]:
    """The argv tail that runs a real service: ``-m services.<name>``."""
    if service not in PIPELINE.services:
        raise ValueError(f"unknown service {service!r}")
    return ["-m", f"services.{service}"]


def consumer_pid(consumer: str) -> int | None:
    """The pid in a default consumer name (``<host>-<pid>-<random>``), if it has one."""
    parts = consumer.rsplit("-", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def rigged(service: str) -> list[str]:
    """The argv tail that runs ``service`` with a test fault rigged (see ``rigged_worker``)."""
    if service not in PIPELINE.services:
        raise ValueError(f"unknown service {service!r}")
    return ["-m", "tests.fault.rigged_worker", service]


class WorkerProcess:
    """One worker process. Its stdout and stderr go to ``log_path``.

    Args:
        service: the service (consumer group) it serves, for bookkeeping.
        argv: arguments after the interpreter, e.g. ``["-m", "services.triage"]``.
        env: the full environment.
        log_path: where its output goes (appended to, never truncated).
    """

    def __init__(self, service: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.service = service
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.signals: list[str] = []

    def start(self) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, *self.argv],
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.started_at = time.monotonic()
        return self

    @property
    def process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise RuntimeError("worker not started")
        return self._process

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def send(self, signum: signal.Signals) -> None:
        """Send ``signum`` if the process still runs (a dead one is not an error)."""
        if self.alive:
            self.signals.append(signum.name)
            self.process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL and reap: the process gets no chance to clean up."""
        self.send(signal.SIGKILL)
        if self._process is not None:
            self._process.wait()

    def terminate(self) -> None:
        self.send(signal.SIGTERM)

    def freeze(self) -> None:
        self.send(signal.SIGSTOP)

    def thaw(self) -> None:
        self.send(signal.SIGCONT)

    async def wait_exit(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds for the process to exit; its return code, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                return code
            await asyncio.sleep(0.02)
        return self.process.poll()

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGCONT + SIGTERM, then SIGKILL after ``grace_s``; blocking (for teardown)."""
        if not self.alive:
            return self.returncode if self._process is not None else None
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            return self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (non-JSON lines, e.g. tracebacks, are skipped)."""
        return list(parse_log(self.log_text()))

    def logged(self, event: str, **match: Any) -> list[dict[str, Any]]:
        """Log records named ``event`` whose fields equal ``match``."""
        return [
            r
            for r in self.log_records()
            if r.get("event") == event and all(r.get(k) == v for k, v in match.items())
        ]

    async def wait_logged(self, event: str, timeout: float = 30.0, **match: Any) -> dict[str, Any]:
        """Wait until the process logs ``event`` (with fields ``match``); return that record."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.logged(event, **match)
            if found:
                return found[0]
            if not self.alive:
                raise AssertionError(f"{self} exited ({self.returncode}) before logging {event}")
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self} did not log {event} {match} within {timeout}s")

    def __repr__(self) -> str:
        pid = self._process.pid if self._process else None
        return f"<worker {self.service} pid={pid} log={self.log_path.name}>"


async def wait_any_logged(
    workers: list[WorkerProcess], event: str, timeout: float = 30.0, **match: Any
) -> tuple[WorkerProcess, dict[str, Any]]:
    """Wait until one of ``workers`` logs ``event`` (fields ``match``); which one, and what."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for worker in workers:
            found = worker.logged(event, **match)
            if found:
                return worker, found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"none of {workers} logged {event} {match} within {timeout}s")


def parse_log(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record


class Fleet:
    """The worker processes of one pipeline under test.

    Args:
        url: the Redis URL the workers use.
        prefix: their ``BATON_PREFIX``.
        log_dir: one log file per process goes here.
        env: extra environment for every worker (overrides :data:`FAULT_ENV`).
    """

    def __init__(
        self, url: str, prefix: str, log_dir: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.log_dir = log_dir
        self.env = dict(env or {})
        self.workers: list[WorkerProcess] = []
        """Every process ever started, including killed and replaced ones."""
        self._serial = itertools.count(1)

    def spawn(
        self,
        service: str,
        argv: list[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> WorkerProcess:
        """Start one replica of ``service`` (the real service unless ``argv`` says otherwise)."""
        full_env = worker_env(self.url, self.prefix, {**self.env, **(env or {})})
        log_path = self.log_dir / f"{service}-{next(self._serial):03d}.log"
        worker = WorkerProcess(service, argv or service_module(service), full_env, log_path)
        self.workers.append(worker.start())
        return worker

    def spawn_pipeline(self, replicas: int = 1) -> list[WorkerProcess]:
        """``replicas`` real replicas of each of the four services."""
        return [self.spawn(s) for s in PIPELINE.services for _ in range(replicas)]

    def replace(self, worker: WorkerProcess) -> WorkerProcess:
        """Start a new process with the same command and environment as ``worker``."""
        log_path = self.log_dir / f"{worker.service}-{next(self._serial):03d}.log"
        fresh = WorkerProcess(worker.service, worker.argv, worker.env, log_path)
        self.workers.append(fresh.start())
        return fresh

    @property
    def live(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.alive]

    def of(self, service: str) -> list[WorkerProcess]:
        return [w for w in self.live if w.service == service]

    def random_live(self, rng: random.Random) -> WorkerProcess:
        return rng.choice(self.live)

    async def wait_started(self, workers: list[WorkerProcess] | None = None,
                           timeout: float = 60.0) -> None:  # fmt: skip
        """Wait until every given (default: live) worker has logged ``worker_started``."""
        for worker in workers if workers is not None else self.live:
            await worker.wait_logged("worker_started", timeout=timeout)

    def crashed(self) -> list[WorkerProcess]:
        """Processes that exited on their own with a non-zero code (not by our SIGKILL)."""
        return [
            w
            for w in self.workers
            if not w.alive and w.returncode not in (0, None) and "SIGKILL" not in w.signals
        ]

    def records(self, event: str | None = None) -> list[dict[str, Any]]:
        """JSON log records of every process ever started, optionally only those named ``event``."""
        out: list[dict[str, Any]] = []
        for worker in self.workers:
            out += [r for r in worker.log_records() if event is None or r.get("event") == event]
        return out

    def count(self, event: str) -> int:
        return len(self.records(event))

    def tracebacks(self) -> list[str]:
        """Log files holding a Python traceback (a crash or an unhandled task error)."""
        return [w.log_path.name for w in self.workers if "Traceback" in w.log_text()]

    async def supervise(self, stop: asyncio.Event, interval_s: float = 0.1) -> int:
        """Restart workers that exit on their own, as an orchestrator would, until ``stop``.

        Returns how many restarts it made.
        """
        handled: set[int] = set()
        restarts = 0
        while not stop.is_set():
            for worker in self.crashed():
                if id(worker) not in handled:
                    handled.add(id(worker))
                    self.replace(worker)
                    restarts += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
        return restarts

    def stop_all(self, grace_s: float = 10.0) -> None:
        for worker in self.live:
            worker.send(signal.SIGCONT)
            worker.send(signal.SIGTERM)
        for worker in self.workers:
            if worker.alive:
                worker.stop(grace_s)

    def __enter__(self) -> Fleet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()
