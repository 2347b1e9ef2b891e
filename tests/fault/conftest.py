"""Fixtures of the fault tier: a Redis of the test's own, a client, and a fleet of workers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.keys import Keys
from shared.runtime.redis_client import connect
from tests.fault.processes import Fleet


@pytest.fixture
def keys(prefix: str) -> Keys:
    return Keys(prefix)


@pytest.fixture
async def client(fresh_redis: EmbeddedRedis) -> AsyncIterator[Redis]:
    """A client of the test's own Redis (AOF ``always``; the test may kill and restart it)."""
    redis = connect(fresh_redis.url)
    yield redis
    await redis.aclose()


@pytest.fixture
def fleet(fresh_redis: EmbeddedRedis, prefix: str, tmp_path: Path) -> Iterator[Fleet]:
    """Worker processes against ``fresh_redis``; all stopped (then killed) at teardown."""
    with Fleet(fresh_redis.url, prefix, tmp_path / "logs") as workers:
        yield workers
