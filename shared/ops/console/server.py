"""Serving the console: its Redis connections (never an admin's) and the HTTP server."""

from __future__ import annotations

import ipaddress

from redis.asyncio import Redis
from redis.exceptions import NoPermissionError, ResponseError

from shared.ops.console.settings import ConsoleSettings
from shared.pipeline.settings import BatonSettings
from shared.runtime.redis_client import connect, connect_for

POOL = 16


def redis_clients(
    base: BatonSettings, settings: ConsoleSettings, url: str
) -> tuple[Redis, Redis | None]:
    """The operator's client (``BATON_OPERATOR_REDIS_URL``, else ``url`` as the configured user)
    and the viewers' read-only one (``BATON_VIEWER_REDIS_URL``), when configured."""
    if settings.operator_redis_url:
        operator = connect(settings.operator_redis_url, max_connections=POOL)
    else:
        operator = connect_for(base, url=url, max_connections=POOL)
    viewer = None
    if settings.viewer_redis_url:
        viewer = connect(settings.viewer_redis_url, max_connections=POOL)
    return operator, viewer


async def redis_user(redis: Redis) -> str | None:
    """The Redis user a client is logged in as; None when it may not ask (a restricted user)."""
    try:
        name = await redis.acl_whoami()
    except (NoPermissionError, ResponseError):
        return None
    return name.decode() if isinstance(name, bytes) else str(name)


def warnings(settings: ConsoleSettings, operator_user: str | None) -> list[str]:
    """What makes this start less safe than the defaults, in plain words."""
    found = []
    if operator_user == "default":
        found.append(
            "the console is connected to Redis as its default (admin) user: give it the operator "
            "user of `baton acl` (BATON_OPERATOR_REDIS_URL) outside local development"
        )
    if not _loopback(settings.host):
        found.append(
            f"listening on {settings.host}, reachable from other machines: put it behind HTTPS "
            "and set BATON_CONSOLE_SECURE_COOKIES=true"
        )
    return found


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
