"""Fixtures shared by every test tier: throwaway Redis servers and unique key prefixes."""

from __future__ import annotations

import gc
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from shared.ops.embedded import EmbeddedRedis
from shared.runtime.redis_client import connect


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """One Redis for the session on a free loopback port (never the shared one on 6379)."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), appendfsync=None)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fresh_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis of the test's own, with AOF ``always``, that the test may kill and restart."""
    server = EmbeddedRedis(tmp_path / "redis", appendfsync="always")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def prefix() -> str:
    """A key prefix unique to the test, so tests never see each other's streams."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def redis(redis_server: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = connect(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    """Collect after each test, so an unclosed connection is reported by the test that leaked it."""
    yield
    gc.collect()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (make test), the fault tier runs on one worker, one test at a time, beside
    the other tests: its kills and restarts are timed, and each waits more than it computes. The
    real-model tier gets a worker of its own too (one model server, its tests one after another)."""
    for item in items:
        for tier in ("fault", "realmodel"):
            if item.get_closest_marker(tier):
                item.add_marker(pytest.mark.xdist_group(tier))
