"""``baton console`` from the command line: a one-off token when none is configured, a warning
when it would run as Redis's admin user, and a clear error for bad settings."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.ops.embedded import EmbeddedRedis, free_port
from tests.console.harness import CSRF
from tests.fault.processes import REPO_ROOT, worker_env


@pytest.fixture
def started(redis_server: EmbeddedRedis, prefix: str, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    port, log = free_port(), tmp_path / "console.log"
    env = worker_env(redis_server.url, prefix, {"BATON_CONSOLE_PORT": str(port)})
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "shared.ops.cli.app", "console"],
            cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield port, log
        finally:
            process.terminate()
            process.wait(10)


def _serving(port: int, log: Path) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=1)
            return log.read_text()
        except httpx.TransportError:
            time.sleep(0.05)  # polls the condition above
    raise AssertionError(f"baton console did not serve: {log.read_text()}")


def test_without_users_it_prints_a_one_off_token_that_logs_in(
    started: tuple[int, Path],
) -> None:
    port, log = started
    output = _serving(port, log)
    assert "default (admin) user" in output  # a bare test Redis: warned
    token = re.search(r"operator token: (\S+)", output)
    assert token, output
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        form = http.get("/login")
        csrf = CSRF.search(form.text)
        assert csrf
        reply = http.post("/login", data={"csrf": csrf.group(1), "token": token.group(1)})
        assert (reply.status_code, reply.headers["location"]) == (303, "/escalations")
        assert "admin (operator)" in http.get("/escalations").text


def test_bad_console_settings_are_a_clear_usage_error(
    redis_server: EmbeddedRedis, prefix: str
) -> None:
    env = worker_env(redis_server.url, prefix, {"BATON_CONSOLE_USERS": "{not json"})
    done = subprocess.run(
        [sys.executable, "-m", "shared.ops.cli.app", "console"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "BATON_CONSOLE_USERS is JSON" in done.stderr
    assert "Traceback" not in done.stderr


def test_baton_up_with_console_serves_it_beside_the_workers(
    redis_server: EmbeddedRedis, prefix: str, tmp_path: Path
) -> None:
    port, log = free_port(), tmp_path / "up.log"
    env = worker_env(redis_server.url, prefix, {"BATON_CONSOLE_PORT": str(port)})
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "shared.ops.cli.app", "up", "--console"],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            output = _serving(port, log)
            token = re.search(r"console token \(this run only\): (\S+)", output)
            assert token, output
            assert f"console at http://127.0.0.1:{port}/" in output
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(60) == 0
