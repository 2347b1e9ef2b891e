"""A Docker engine of the tier's own: ``dockerd`` with its own data root, socket and pid file.

Debian's ``docker.io`` (dockerd with containerd, installed by .ci/run) starts with its defaults;
the tier never uses a system engine or its socket. :meth:`Engine.stop` ends it by its pid (it
takes its containerd with it), so nothing is left running. The data root is kept between runs so
that a second run finds its base images and build cache (``BATON_CONTAINER_ROOT``, default
``/var/tmp/baton-container-tier``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import docker
from docker.errors import DockerException
from requests import RequestException

DEFAULT_ROOT = Path("/var/tmp/baton-container-tier")


def unavailable_reason() -> str | None:
    """Why no engine can run here (None when one can)."""
    if shutil.which("dockerd") is None:
        return "no dockerd (apt-get install docker.io, as .ci/run does)"
    if os.geteuid() != 0:
        return "dockerd needs root"
    for tool in ("debootstrap", "docker-compose"):
        if shutil.which(tool) is None:
            return f"no {tool} (apt-get install {tool}, as .ci/run does)"
    return None


class Engine:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "docker.sock"
        self.pidfile = root / "dockerd.pid"
        self.log_path = root / "dockerd.log"
        self.url = f"unix://{self.socket}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 90.0) -> docker.DockerClient:
        """Start dockerd and return a client once it answers."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._end_leftover()
        command = [
            "dockerd", "--data-root", str(self.root / "data"),
            "--exec-root", str(self.root / "exec"), "--pidfile", str(self.pidfile),
            "-H", self.url,
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"dockerd exited: {self.log_tail()}")
            if self.socket.exists():
                try:
                    client = docker.DockerClient(base_url=self.url, timeout=900)
                    client.ping()
                    return client
                except (DockerException, RequestException):
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not answer: {self.log_tail()}")
            time.sleep(0.2)

    def stop(self, timeout_s: float = 60.0) -> None:
        """SIGTERM to dockerd by its pid, then wait for it (SIGKILL if it will not go)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _end_leftover(self) -> None:
        """A dockerd of this root left by an interrupted run (its pid file) is ended first:
        dockerd refuses to start over a live pid file."""
        try:
            pid = int(self.pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if b"dockerd" not in cmdline or str(self.root).encode() not in cmdline:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
