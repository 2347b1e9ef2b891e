"""The Redis configuration Baton ships keeps its promise across crashes and restarts.

Redis runs from deploy/redis/redis.conf with the users file ``baton acl`` writes; every service,
the producer and the auditor log in as their own users. Redis before 8.4 drops the script
transactions it replays from its AOF when the default user is off (redis/redis#14541): these
tests fail on that users file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis

from services.pipeline import PIPELINE
from shared.ops import durability
from shared.ops.acl import AclUser
from shared.ops.embedded import free_port
from shared.pipeline.keys import Keys
from shared.runtime.redis_client import connect
from tests.audit import TERMINALS, progressed, publish_figures, settled
from tests.fault.load import Producer
from tests.fault.processes import Fleet
from tests.integration.test_escalations_cli import baton
from tests.shipped.server import ShippedRedis, baton_acl, put_back_default_off, server_version

pytestmark = pytest.mark.shipped

RATE_PER_S = 120


@dataclass
class Shipped:
    server: ShippedRedis
    keys: Keys
    credentials: dict[str, str]
    clients: list[Redis]

    def url(self, user: str) -> str:
        return self.credentials[AclUser(user, "").url_var]

    def client(self, user: str) -> Redis:
        redis = connect(self.url(user))
        self.clients.append(redis)
        return redis


@pytest.fixture
async def shipped(tmp_path: Path, prefix: str) -> AsyncIterator[Shipped]:
    port = free_port()
    credentials = await baton_acl(tmp_path, prefix, port)
    login = ("operator", credentials[AclUser("operator", "").password_var])
    server = ShippedRedis(tmp_path / "redis", tmp_path / "users.acl", login, port)
    server.start()
    state = Shipped(server, Keys(prefix), credentials, [])
    try:
        yield state
    finally:
        for client in state.clients:
            await client.aclose()
        server.stop()


@pytest.fixture
def fleet(shipped: Shipped, tmp_path: Path) -> Iterator[Fleet]:
    """The four services, each logged in as its own user (the URLs from ``baton acl``)."""
    with Fleet(shipped.server.url, shipped.keys.prefix, tmp_path / "logs") as workers:
        for service in PIPELINE.services:
            workers.spawn(service, env={"REDIS_URL": shipped.url(service)})
        yield workers


@pytest.mark.parametrize("default_user", ["sealed", "off"])
async def test_script_writes_survive_a_crash_exactly_when_durability_says_so(
    shipped: Shipped, default_user: str
) -> None:
    """Pins shared.ops.durability's version rule to what this redis-server really does."""
    server, keys = shipped.server, shipped.keys
    if default_user == "off":
        server.stop()
        put_back_default_off(server.acl_path)
        server.start()
    code, out = await baton(server.url, keys.prefix, "acl", "--check",
                            env={"REDIS_URL": shipped.url("operator")})  # fmt: skip
    loses = durability.replays_scripts_under_acl("redis", server_version())
    warned = default_user == "off" and loses
    assert (code, b"DATA LOSS ON RESTART" in out) == (1 if warned else 0, warned), out
    code, out = await baton(server.url, keys.prefix, "status",
                            env={"REDIS_URL": shipped.url("operator")})  # fmt: skip
    assert (code, b"DATA LOSS ON RESTART" in out) == (0, warned), out
    operator = shipped.client("operator")
    script = operator.register_script(
        "redis.call('XADD', KEYS[1], '*', 'k', 'v') "
        "return redis.call('XADD', KEYS[2], '*', 'k', 'v')"
    )
    await script(keys=[keys.dlq, keys.escalations])
    await operator.xadd(keys.responses, {"k": "plain"})
    facts = await durability.server_facts(operator)
    server.kill()
    server.start()

    kept = [await operator.xlen(keys.stream(n)) for n in ("dlq", "escalations", "responses")]
    assert facts.default_user_off is (default_user == "off")
    assert (durability.hazard(facts) is not None) is warned
    assert kept == ([0, 0, 1] if warned else [1, 1, 1])
    assert ("NOPERM" in server.log()) is warned


@pytest.mark.fault
@pytest.mark.timeout(300)
async def test_shipped_configuration_loses_and_duplicates_nothing_across_crashes_and_a_restart(
    shipped: Shipped, fleet: Fleet, tmp_path: Path
) -> None:
    server, keys = shipped.server, shipped.keys
    auditor = shipped.client("operator")
    assert durability.hazard(await durability.server_facts(auditor)) is None
    await fleet.wait_started()
    producer = Producer(shipped.client("producer"), keys)
    faults = ("kill", "kill", "shutdown")
    outages: list[float] = []
    stop = asyncio.Event()
    posting = asyncio.create_task(producer.post_until("shipped", stop, rate_per_s=RATE_PER_S))
    try:
        for fault in faults:
            await progressed(auditor, keys, by=120, timeout=90)
            seen = {n: await auditor.xlen(keys.stream(n)) for n in (*TERMINALS, "intake")}
            began = time.monotonic()
            server.kill() if fault == "kill" else server.stop()  # stop: SIGTERM, i.e. SHUTDOWN
            server.start()
            outages.append(round(time.monotonic() - began, 2))
            # Everything Redis acknowledged before the fault came back from the AOF.
            after = {n: await auditor.xlen(keys.stream(n)) for n in seen}
            lost = {n: (seen[n], after[n]) for n in seen if after[n] < seen[n]}
            assert not lost, f"after {fault}: entries lost (before, after): {lost}"
        await progressed(auditor, keys, by=120, timeout=90)
    finally:
        stop.set()
        await posting

    report = await settled(auditor, keys, producer.acknowledged, timeout=180)
    publish_figures(
        "shipped_redis",
        {**report.figures(), "faults": list(faults), "restart_s": outages,
         "producer_retries": producer.retries, "noperm_lines": server.log().count("NOPERM")},
        tmp_path,
    )  # fmt: skip
    report.assert_ok()
    assert "NOPERM" not in server.log()
    assert not fleet.crashed(), fleet.crashed()
    assert not fleet.tracebacks(), fleet.tracebacks()
