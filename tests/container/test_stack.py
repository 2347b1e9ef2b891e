"""The shipped image and compose stack keep the product's promises on a real Docker engine.

One scenario, in order: every healthcheck passes; 300 events (a few more if needed) are posted as
the producer user; triage scales to 3 replicas and all three consume; a triage worker is frozen
until Redis has handed it entries and its healthcheck fails (stale heartbeat); that container is
SIGKILLed and Redis is killed and started again; the workers stop gracefully; the auditor finds
every event ended exactly once with nothing pending, the stranded entries finished by peers.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from docker.models.containers import Container
from redis.asyncio import Redis

from services.pipeline import PIPELINE
from shared.ops.embedded import free_port
from shared.pipeline.keys import Keys
from shared.runtime.delivery import as_text
from shared.runtime.redis_client import connect
from tests.audit import TERMINALS, audit, publish_figures, settled
from tests.container.conftest import Built
from tests.container.images import PROJECT, REPO_ROOT, build_args, redis_version
from tests.container.stack import Stack
from tests.fault.load import Producer
from tests.helpers import wait_for

pytestmark = [pytest.mark.container, pytest.mark.timeout(900)]

HEALTH_CPU = (
    "import resource, subprocess, sys\n"
    "for _ in range(5):\n"
    "    subprocess.run([sys.executable, '-m', 'shared.runtime.health'], check=True)\n"
    "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print((r.ru_utime + r.ru_stime) / 5)\n"
)
IMAGE_LIMIT_BYTES = 250 * 1000 * 1000


def run_in(container: Container, *command: str) -> tuple[int, str]:
    code, out = container.exec_run(list(command))
    assert isinstance(out, bytes)
    return int(code or 0), out.decode(errors="replace")


def healthcheck_cpu_s(container: Container) -> float:
    code, out = run_in(container, "python", "-c", HEALTH_CPU)
    assert code == 0, out
    return float(out.strip().splitlines()[-1])


WORKER = "$(cat /proc/1/task/1/children)"  # the worker: the one child of the container's init


def signal_worker(container: Container, name: str) -> None:
    code, out = run_in(container, "sh", "-c", f"kill -{name} {WORKER}")
    assert code == 0, out


def seconds_until_unhealthy(container: Container) -> float:
    """Seconds until the container's healthcheck command fails (its worker being frozen)."""
    began = time.monotonic()
    while run_in(container, "python", "-m", "shared.runtime.health")[0] == 0:
        assert time.monotonic() - began < 60, "a frozen worker still passes its healthcheck"
        time.sleep(0.5)
    return time.monotonic() - began


async def pending_of(redis: Redis, keys: Keys, container: Container) -> int:
    """Entries of the triage group delivered to ``container``'s consumer and not acknowledged."""
    consumers = await redis.xinfo_consumers(keys.stream(PIPELINE.input_stream("triage")), "triage")
    host = str(container.id)[:12]
    return sum(int(c["pending"]) for c in consumers if as_text(c["name"]).startswith(host))


def log_lines_that_are_not_json(lines: list[str]) -> list[str]:
    bad = []
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            bad.append(line)
    return bad


async def strand_entries(redis: Redis, producer: Producer, keys: Keys, frozen: Container) -> int:
    """Freeze ``frozen``'s worker and post events until Redis hands it some: its read blocked
    before the freeze is served (up to BATON_BLOCK_MS), and nothing it got will be finished.
    Every other event ends meanwhile. The entries it holds; it is left frozen."""
    for size in (50, 10, 10, 10, 10, 10, 10, 10):
        signal_worker(frozen, "STOP")
        start = len(producer.acknowledged)
        await producer.post_many([f"ct-{n:04d}" for n in range(start, start + size)])

        async def all_but_frozen_ended() -> bool:
            ended = sum([await redis.xlen(keys.stream(name)) for name in TERMINALS])
            return ended + await pending_of(redis, keys, frozen) >= len(producer.acknowledged)

        await wait_for(all_but_frozen_ended, timeout=60, interval=0.2)
        held = await pending_of(redis, keys, frozen)
        if held:
            return held
        signal_worker(frozen, "CONT")
    raise AssertionError("the frozen triage worker was never handed an entry")


@pytest.fixture
def stack(built: Built, tmp_path: Path) -> Stack:
    return Stack(built.client, built.engine.url, tmp_path, free_port())


async def test_the_compose_stack_survives_kills_and_a_redis_restart_losing_nothing(
    built: Built, stack: Stack, tmp_path: Path
) -> None:
    began = time.monotonic()
    image = built.client.images.get(PROJECT)
    assert image.attrs["Size"] <= IMAGE_LIMIT_BYTES, image.attrs["Size"]
    assert image.attrs["Config"]["User"] == "10001:10001"
    code, _ = run_in_image(built, "python", "-c", "import matplotlib")
    assert code != 0, "bench-only matplotlib is in the image"

    credentials = stack.write_users(redis_version(built.client))
    keys = Keys("baton")
    stack.run("up", "-d", "--no-build")
    try:
        stack.wait_healthy({"redis": 1, **dict.fromkeys(PIPELINE.services, 1)})
        healthy_s = time.monotonic() - began
        auditor = connect(stack.url(credentials, "operator"))
        producer = Producer(connect(stack.url(credentials, "producer")), keys)
        try:
            await producer.post_many([f"ct-{n:04d}" for n in range(150)])
            stack.run("up", "-d", "--no-build", "--no-recreate", "--scale", "triage=3", "triage")
            stack.wait_healthy({"triage": 3})
            triage = stack.containers("triage")
            await producer.post_many([f"ct-{n:04d}" for n in range(150, 250)])

            async def each_replica_consumed() -> bool:
                report = await audit(auditor, keys, producer.acknowledged)
                hosts = {s.get("consumer", "").rsplit("-", 2)[0]
                         for steps in report.steps.values() for s in steps
                         if s.get("stage") == "triage"}  # fmt: skip
                return {str(c.id)[:12] for c in triage} <= hosts

            await wait_for(each_replica_consumed, timeout=120, interval=0.5)
            health_cpu = healthcheck_cpu_s(triage[0])
            # A frozen worker fails its healthcheck once its heartbeat is stale. Its read is still
            # blocked in Redis, which hands it entries it will never finish: then it is killed,
            # and its peers must reclaim them.
            stranded = await strand_entries(auditor, producer, keys, triage[2])
            stale_after_s = seconds_until_unhealthy(triage[2])
            triage[2].kill(signal="SIGKILL")
            (redis,) = stack.containers("redis")
            redis.kill(signal="SIGKILL")
            redis.reload()
            if redis.attrs["State"]["Status"] != "running":
                redis.start()
            stack.wait_healthy({"redis": 1})
            report = await settled(auditor, keys, producer.acknowledged, timeout=300)
            report.assert_ok()

            stack.run("stop", *PIPELINE.services, timeout_s=120)
            workers = [c for s in PIPELINE.services for c in stack.containers(s)]
            stopped = [c for c in workers if c.id != triage[2].id]
            exits = {c.name: c.attrs["State"]["ExitCode"] for c in stopped}
            final = await audit(auditor, keys, producer.acknowledged)
        finally:
            await auditor.aclose()
            await producer.redis.aclose()
        logs = [line for s in PIPELINE.services for line in stack.logs(s)]
    finally:
        stack.run("down", "--volumes", "--timeout", "30", timeout_s=180)

    figures = {
        **final.figures(),
        "triage_replicas": 3,
        "containers_sigkilled": 1,
        "entries_stranded_by_the_kill": stranded,
        "redis_kills": 1,
        "healthy_after_s": round(healthy_s, 1),
        "healthcheck_cpu_s": round(health_cpu, 4),
        "frozen_worker_unhealthy_after_s": round(stale_after_s, 1),
        "image_mb": round(image.attrs["Size"] / 1e6, 1),
        **built.timings,
        "wall_s": round(time.monotonic() - began, 1),
        "export_warnings": sum("trace_export_failed" in line for line in logs),
    }
    publish_figures("container_tier", figures, tmp_path)
    final.assert_ok()
    assert final.figures()["pending"] == 0
    assert final.redelivered_steps() >= stranded > 0  # reclaimed from the killed worker
    assert all(code == 0 for code in exits.values()), f"not a graceful stop: {exits}"
    assert health_cpu <= 0.05, f"healthcheck costs {health_cpu * 1000:.0f} ms of CPU"
    assert not log_lines_that_are_not_json(logs)[:5], log_lines_that_are_not_json(logs)[:5]


def run_in_image(built: Built, *command: str) -> tuple[int, str]:
    container = built.client.containers.run(PROJECT, list(command), entrypoint=[], detach=True)
    try:
        code = int(container.wait()["StatusCode"])
        return code, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


def test_the_image_builds_with_buildkit_without_a_registry(built: Built) -> None:
    """BuildKit (the engine's own, no frontend image) builds the same Dockerfile."""
    args = [f"--build-arg={name}={value}" for name, value in build_args().items()]
    done = subprocess.run(
        ["/usr/bin/docker", "build", "-f", "deploy/Dockerfile", *args, "-t",
         "baton:container-tier-buildkit", "."],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=600,
        env={"DOCKER_BUILDKIT": "1", "DOCKER_HOST": built.engine.url, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    image = built.client.images.get("baton:container-tier-buildkit")
    assert image.attrs["Config"]["User"] == "10001:10001"
