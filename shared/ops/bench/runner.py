"""The benchmark's own Redis and worker processes.

Every process here is started by the benchmark and stopped by it (a ``finally`` in the caller):
a throwaway ``redis-server`` on a free loopback port, and worker processes started as
``python -m <module>`` from the repository root, each with its own log file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shared.ops.embedded import EmbeddedRedis, Fsync

REPO_ROOT = Path(__file__).resolve().parents[2]
_SCRUBBED = ("REDIS_URL", "BATON_", "OPENAI_", "OTEL_")


class BenchRedis(EmbeddedRedis):
    """An embedded Redis for measuring: no RDB snapshots and no automatic AOF rewrites.

    A rewrite firing in the middle of one repetition and not another would only add noise;
    the AOF itself (with ``appendfsync always`` when asked) is kept.
    """

    def __init__(self, data_dir: Path, appendfsync: Fsync | None) -> None:
        super().__init__(data_dir, appendfsync=appendfsync)

    def command(self) -> list[str]:
        return [*super().command(), "--auto-aof-rewrite-percentage", "0"]


def clean_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment minus Baton, Redis, LLM and tracing settings, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


@dataclass
class Proc:
    """One process the benchmark started."""

    role: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None


class Procs:
    """A set of processes (a fleet of workers, or helpers) that is stopped as one.

    Args:
        log_dir: each process writes stdout and stderr to ``<log_dir>/<role>-<n>.log``.
    """

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[Proc] = []

    def spawn(self, role: str, argv: list[str], env: Mapping[str, str]) -> Proc:
        """Start ``python <argv>`` in the repository root."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{role}-{len(self.procs) + 1:02d}.log"
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                [sys.executable, *argv],
                cwd=REPO_ROOT,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        proc = Proc(role, popen, log_path)
        self.procs.append(proc)
        return proc

    def by_role(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for proc in self.procs:
            out.setdefault(proc.role, []).append(proc.pid)
        return out

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def exited(self) -> list[str]:
        """Processes that are no longer running (none should, while the benchmark runs)."""
        return [f"{p.role} pid {p.pid} (exit {p.popen.poll()})" for p in self.procs if not p.alive]

    def signal_all(self, signum: signal.Signals) -> None:
        for proc in self.procs:
            if proc.alive:
                proc.popen.send_signal(signum)

    def pause(self) -> None:
        """SIGSTOP every process: the start gate of a drain run."""
        self.signal_all(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal_all(signal.SIGCONT)

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGCONT + SIGTERM, then SIGKILL whatever is still running after ``grace_s``."""
        self.resume()
        self.signal_all(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in self.procs:
            try:
                proc.popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()

    def log_tail(self, lines: int = 5) -> dict[str, str]:
        """The last lines of each process's log, for a failure report."""
        out: dict[str, str] = {}
        for proc in self.procs:
            try:
                text = proc.log_path.read_text(errors="replace")
            except OSError:
                continue
            out[proc.log_path.name] = "\n".join(text.splitlines()[-lines:])
        return out
