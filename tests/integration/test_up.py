"""``baton up`` supervises its workers: real processes, real signals, its real console."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.pipeline import PIPELINE
from shared.ops.embedded import EmbeddedRedis, free_port
from tests.fault.processes import worker_env
from tests.integration.up_process import UpProcess, baton


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def started_pids(up: UpProcess) -> dict[str, int]:
    found = (line.split() for line in up.lines if line.endswith(" started"))
    return {parts[1]: int(parts[3].rstrip(")")) for parts in found if len(parts) == 5}


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def free_run(length: int) -> int:
    """The first of ``length`` consecutive free ports."""
    for _ in range(50):
        first = free_port()
        if first + length < 65535 and all(_free(first + i) for i in range(length)):
            return first
    raise RuntimeError("no run of free ports")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


async def test_a_worker_killed_with_sigkill_is_named_and_restarted(
    redis_server: EmbeddedRedis, prefix: str, tmp_path: Path
) -> None:
    async with UpProcess(tmp_path, worker_env(redis_server.url, prefix)) as up:
        found = await up.wait_for(r"triage-0 \(pid (\d+)\) started")
        first = int(found.group(1))
        await up.wait_for("serving")
        os.kill(first, signal.SIGKILL)
        await up.wait_for(rf"triage-0 \(pid {first}\) died: killed by SIGKILL; restarting in")
        restarted = int((await up.wait_for(r"triage-0 \(pid (\d+)\) restarted")).group(1))
        assert restarted != first
        assert alive(restarted)
        assert await up.stop() == 0
    assert not alive(restarted)


async def test_a_crash_looping_worker_stops_up_with_a_message(
    redis_server: EmbeddedRedis, prefix: str, tmp_path: Path, taken_port: int
) -> None:
    env = worker_env(redis_server.url, prefix, {"BATON_METRICS_PORT": str(taken_port)})
    async with UpProcess(tmp_path, env, "--max-restarts", "3") as up:
        assert await up.exit_code() == 1
    assert "intake-0 keeps dying (3 times within 60 s, last: exited with code 1)" in up.output
    assert f"Its log: {Path('.baton/logs/intake-0.log')}" in up.output
    assert "Address already in use" in (tmp_path / ".baton/logs/intake-0.log").read_text()
    assert not any(alive(pid) for pid in started_pids(up).values())


async def test_a_second_up_in_the_same_folder_is_refused_naming_the_first(
    redis_server: EmbeddedRedis, prefix: str, tmp_path: Path
) -> None:
    env = worker_env(redis_server.url, prefix)
    async with UpProcess(tmp_path, env) as first:
        await first.wait_for("serving")
        code, output = await baton(tmp_path, env, "up")
        assert code == 1
        assert f"`baton up` is already running in this folder (pid {first.process.pid}," in output
        assert f"Redis at {redis_server.url})" in output
        assert first.process.returncode is None
        assert await first.stop() == 0


async def test_up_says_so_when_redis_is_unreachable(prefix: str, tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    code, output = await baton(tmp_path, worker_env(url, prefix), "up")
    assert code == 1
    assert output.startswith(f"error: cannot reach Redis at {url} ("), output
    assert "serving" not in output
    assert "Traceback" not in output


async def test_each_worker_serves_metrics_on_a_port_of_its_own(
    redis_server: EmbeddedRedis, prefix: str, tmp_path: Path
) -> None:
    workers = 2 * len(PIPELINE.services)
    first = free_run(workers)
    env = worker_env(redis_server.url, prefix, {"BATON_METRICS_PORT": str(first)})
    async with UpProcess(tmp_path, env, "--replicas", "2") as up:
        await up.wait_for(f"metrics: each worker on its own port, {first}-{first + workers - 1}")
        await up.wait_for("serving")
        for port in range(first, first + workers):
            body = await asyncio.wait_for(_metrics_when_up(port), 60)
            assert "baton_events_processed" in body
        assert " died" not in up.output
        assert len(started_pids(up)) == workers


async def _metrics_when_up(port: int) -> str:
    while True:
        try:
            return await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/metrics")
        except OSError:
            await asyncio.sleep(0.1)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=2) as reply:
        body: bytes = reply.read()
        return body.decode()


async def test_every_command_finds_the_redis_that_up_started_in_the_folder(
    prefix: str, tmp_path: Path
) -> None:
    env = worker_env("unused", prefix)
    del env["REDIS_URL"]
    async with UpProcess(tmp_path, env) as up:
        url = (await up.wait_for(r"embedded Redis at (\S+)")).group(1)
        await up.wait_for("serving")
        code, output = await baton(tmp_path, env, "status", "--json")
        assert code == 0, output
        code, output = await baton(tmp_path, env, "post", "my invoice is wrong")
        assert code == 0, output
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shared.ops.cli.app", "worker", "triage",
            cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert worker.stdout is not None
        async with asyncio.timeout(60):
            while b'"event":"worker_started"' not in (line := await worker.stdout.readline()):
                assert line, "the worker ended before it started"
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(worker.wait(), 30) == 0
        assert await up.stop() == 0
    code, output = await baton(tmp_path, env, "status")
    assert code == 2
    assert "no `baton up` is running in this folder" in output
    assert url.startswith("redis://127.0.0.1:")
