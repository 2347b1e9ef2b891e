"""Worker processes of ``baton up``, kept running: a worker that dies is named with its exit
reason and restarted after a backoff; one that keeps dying is a :class:`CrashLoopError`.

The supervisor never blocks: :meth:`Supervisor.poll` looks at every process once, restarts those
whose backoff has passed and returns what happened, so the caller decides how often to look and
how to show it (see ``shared.ops.cli.upview``).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO


class WorkerStatus(StrEnum):
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPED = "stopped"


@dataclass(frozen=True)
class RestartPolicy:
    """Backoff doubles from ``first_delay_s`` up to ``max_delay_s``; a worker that ran for
    ``stable_after_s`` starts again from the first delay. ``max_deaths`` deaths within
    ``window_s`` is a crash loop."""

    first_delay_s: float = 0.5
    max_delay_s: float = 30.0
    stable_after_s: float = 60.0
    max_deaths: int = 5
    window_s: float = 60.0

    def delay(self, quick_deaths: int) -> float:
        return float(min(self.max_delay_s, self.first_delay_s * 2 ** max(0, quick_deaths - 1)))


@dataclass(frozen=True)
class Slot:
    """One place in the fleet: replica ``index`` of ``service``, with its own metrics port.

    ``argv``: what it runs (``python -m <argv>``); the service's module unless given.
    """

    service: str
    index: int
    metrics_port: int | None = None
    argv: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"


@dataclass(frozen=True)
class WorkerEvent:
    """Something the console shows: a start, a death (with its reason) or a restart."""

    slot: Slot
    what: str
    reason: str = ""
    pid: int | None = None


class CrashLoopError(Exception):
    """A worker died ``deaths`` times within the policy's window: ``up`` stops."""

    def __init__(self, slot: Slot, deaths: int, window_s: float, reason: str, log: Path) -> None:
        super().__init__(
            f"{slot.name} keeps dying ({deaths} times within {window_s:.0f} s, last: {reason}); "
            f"stopping. Its log: {log}"
        )
        self.slot = slot


def exit_reason(returncode: int) -> str:
    """``exited with code 3`` or ``killed by SIGKILL`` (a negative code is the signal's)."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


@dataclass
class Worker:
    """The process in one slot, and its recent deaths."""

    slot: Slot
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    status: WorkerStatus = WorkerStatus.STOPPED
    started_at: float = 0.0
    restart_at: float = 0.0
    restarts: int = 0
    quick_deaths: int = 0
    last_exit: str = ""
    deaths: deque[float] = field(default_factory=deque)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


class Supervisor:
    """Runs ``python -m services.<name>`` in every slot, with ``env`` and a log file each.

    Args:
        slots: the fleet.
        env: every worker's environment (a slot's metrics port is added to it).
        log_dir: ``<slot name>.log`` files, appended to.
        policy: restarts and crash loops.
    """

    def __init__(
        self,
        slots: list[Slot],
        env: Mapping[str, str],
        log_dir: Path,
        policy: RestartPolicy | None = None,
    ) -> None:
        self.env = dict(env)
        self.log_dir = log_dir
        self.policy = policy or RestartPolicy()
        self.workers = [Worker(slot, log_dir / f"{slot.name}.log") for slot in slots]

    def start(self) -> list[WorkerEvent]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return [self._spawn(worker, "started") for worker in self.workers]

    def poll(self, now: float | None = None) -> list[WorkerEvent]:
        """Note the workers that died, restart those whose backoff is over; raises
        :class:`CrashLoopError` when one died too often."""
        now = time.monotonic() if now is None else now
        events: list[WorkerEvent] = []
        for worker in self.workers:
            if worker.status is WorkerStatus.RUNNING and worker.process is not None:
                code = worker.process.poll()
                if code is not None:
                    events.append(self._died(worker, code, now))
            if worker.status is WorkerStatus.RESTARTING and now >= worker.restart_at:
                worker.restarts += 1
                events.append(self._spawn(worker, "restarted"))
        return events

    def stop(self, grace_s: float) -> None:
        """SIGTERM to every worker (graceful: in-flight events finish), SIGKILL after the grace."""
        running = [w for w in self.workers if w.process is not None and w.process.poll() is None]
        for worker in running:
            assert worker.process is not None
            worker.process.terminate()
        deadline = time.monotonic() + grace_s + 5
        for worker in self.workers:
            if worker.process is not None:
                try:
                    worker.process.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    worker.process.kill()
                    worker.process.wait()
            if worker.log is not None:
                worker.log.close()
            worker.status = WorkerStatus.STOPPED

    def _spawn(self, worker: Worker, what: str) -> WorkerEvent:
        if worker.log is None:
            worker.log = worker.log_path.open("ab")
        env = dict(self.env)
        if worker.slot.metrics_port is not None:
            env["BATON_METRICS_PORT"] = str(worker.slot.metrics_port)
        worker.process = subprocess.Popen(
            [sys.executable, "-m", *(worker.slot.argv or (f"services.{worker.slot.service}",))],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=worker.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches up, which stops workers in order
        )
        worker.status = WorkerStatus.RUNNING
        worker.started_at = time.monotonic()
        return WorkerEvent(worker.slot, what, pid=worker.process.pid)

    def _died(self, worker: Worker, code: int, now: float) -> WorkerEvent:
        reason = exit_reason(code)
        worker.last_exit = reason
        worker.deaths.append(now)
        while worker.deaths and now - worker.deaths[0] > self.policy.window_s:
            worker.deaths.popleft()
        if len(worker.deaths) >= self.policy.max_deaths:
            raise CrashLoopError(
                worker.slot, len(worker.deaths), self.policy.window_s, reason, worker.log_path
            )
        stable = now - worker.started_at >= self.policy.stable_after_s
        worker.quick_deaths = 1 if stable else worker.quick_deaths + 1
        delay = self.policy.delay(worker.quick_deaths)
        worker.status = WorkerStatus.RESTARTING
        worker.restart_at = now + delay
        pid = worker.pid
        return WorkerEvent(worker.slot, "died", f"{reason}; restarting in {delay:g} s", pid)


def slots_for(services: tuple[str, ...], replicas: int, metrics_port: int | None) -> list[Slot]:
    """Every replica of every service; with a first metrics port, each gets the next one."""
    slots: list[Slot] = []
    for service in services:
        for index in range(replicas):
            port = None if metrics_port is None else metrics_port + len(slots)
            slots.append(Slot(service, index, port))
    return slots


def without_metrics_port(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` less ``BATON_METRICS_PORT``: the supervisor hands each worker its own."""
    return {k: v for k, v in env.items() if k != "BATON_METRICS_PORT"}
