"""Redis connections, configured once for the blocking reads and bounded pools Baton needs."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff


def connect(
    url: str, *, max_connections: int = 32, block_ms: int = 0, client_name: str | None = None
) -> Redis:
    """A client whose pool waits for a free connection instead of failing when exhausted.

    ``block_ms`` is the longest ``BLOCK`` this client will issue: the socket timeout stays above it,
    since redis-py 8's default of 5 s would turn every long blocking read into a TimeoutError.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=None,
        protocol=2,
        socket_timeout=block_ms / 1000 + 10,
        socket_connect_timeout=3,
        health_check_interval=30,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), 2),
        client_name=client_name,
    )
    return Redis.from_pool(pool)
