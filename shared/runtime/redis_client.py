"""Redis connections, configured once for the blocking reads and bounded pools Baton needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import SecretStr
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ResponseError

from shared.errors import ConfigError

if TYPE_CHECKING:
    from shared.runtime.settings import RuntimeSettings


def connect(
    url: str,
    *,
    max_connections: int = 32,
    block_ms: int = 0,
    client_name: str | None = None,
    username: str | None = None,
    password: SecretStr | str | None = None,
) -> Redis:
    """A client whose pool waits for a free connection instead of failing when exhausted.

    ``block_ms`` is the longest ``BLOCK`` this client will issue: the socket timeout stays above it,
    since redis-py 8's default of 5 s would turn every long blocking read into a TimeoutError.
    ``username`` and ``password`` (a Redis ACL user) apply unless the URL carries its own: with
    ``redis://worker@redis:6379/0`` the user comes from the URL and the password from here.
    """
    credentials: dict[str, str] = {}  # redis-py lets the URL's own user and password win
    if username:
        credentials["username"] = username
    if isinstance(password, SecretStr):
        password = password.get_secret_value()
    if password:
        credentials["password"] = password
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=None,
        protocol=2,
        socket_timeout=socket_timeout_s(block_ms),
        socket_connect_timeout=3,
        health_check_interval=30,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), 2),
        client_name=client_name,
        **credentials,
    )
    return Redis.from_pool(pool)


def socket_timeout_s(block_ms: int = 0) -> float:
    """How long a command may go unanswered: 10 s past the longest ``BLOCK`` it may ask for."""
    return block_ms / 1000 + 10


def connect_for(
    settings: RuntimeSettings, *, max_connections: int = 32, block_ms: int = 0,
    client_name: str | None = None, url: str | None = None,
) -> Redis:  # fmt: skip
    """:func:`connect` to ``url`` (default ``settings.redis_url``) as the settings' Redis user."""
    target = url or settings.redis_url
    if not target:
        raise ConfigError("REDIS_URL is not set")
    return connect(
        target,
        max_connections=max_connections,
        block_ms=block_ms,
        client_name=client_name,
        username=settings.redis_username,
        password=settings.redis_password,
    )


async def ensure_group(redis: Redis, stream: str, group: str) -> None:
    """Create ``group`` on ``stream`` from its first entry (events posted early are not skipped),
    creating the stream if needed; an existing group is left as it is."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def unlink_matching(redis: Redis, pattern: str, batch_size: int = 1000) -> int:
    """Unlink every key matching ``pattern``, found with SCAN (never KEYS), in batches; how
    many there were."""
    dropped = 0
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=pattern, count=batch_size):
        batch.append(key)
        if len(batch) >= batch_size:
            dropped += await redis.unlink(*batch)
            batch = []
    if batch:
        dropped += await redis.unlink(*batch)
    return dropped
