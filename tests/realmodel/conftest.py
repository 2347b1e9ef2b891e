"""The real-model tier: llama-cpp-python's OpenAI-compatible server on loopback, a real model.

``tests/realmodel/provision.py`` installs the server (``.venv-llm/``) and the checked model;
``.ci/run`` runs it first, so in CI (``CI`` set) a missing piece fails the tier. Elsewhere the
tier is skipped with the command that provisions it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.realmodel import provision

pytestmark = pytest.mark.realmodel

N_CTX = 4096
STARTUP_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ModelServer:
    base_url: str
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the model server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise RuntimeError(f"the model server did not answer within {STARTUP_TIMEOUT_S}s")


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    """The server on a free loopback port, for the session (loading the model takes seconds)."""
    if not provision.ready():
        message = "real-model tier not provisioned: run python3 tests/realmodel/provision.py"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    command = [
        str(provision.server_python()), "-m", "llama_cpp.server",
        "--model", str(provision.model_path()), "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", str(N_CTX), "--n_threads", str(os.cpu_count() or 2),
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_serving(url, process, log)
        yield ModelServer(url, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
