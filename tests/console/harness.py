"""The console in-process over a test's own Redis, and logged-in HTTP clients for it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from pydantic import SecretStr
from redis.asyncio import Redis

from shared.ops.console.app import create_app
from shared.ops.console.settings import ConsoleSettings, ConsoleUser
from shared.pipeline.settings import BatonSettings
from shared.runtime.delivery import as_text
from shared.runtime.redis_client import connect
from tests.audit import read_stream

TOKENS = {
    "alice": "alice-operator-token-0001",
    "bob": "bob-operator-token-000002",
    "vera": "vera-viewer-token-0000003",
}
ROLES = {"alice": "operator", "bob": "operator", "vera": "viewer"}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def console_settings(**overrides: Any) -> ConsoleSettings:
    users = {n: ConsoleUser(token=SecretStr(t), role=ROLES[n]) for n, t in TOKENS.items()}  # type: ignore[arg-type]
    return ConsoleSettings(users=users, **overrides)


@asynccontextmanager
async def console(
    url: str, prefix: str, viewer_redis: Redis | None = None, **overrides: Any
) -> AsyncIterator[httpx.ASGITransport]:
    """The console app (its own Redis clients, closed after), as an httpx transport."""
    base = BatonSettings(redis_url=url, prefix=prefix)
    operator = connect(url, max_connections=8)
    app = create_app(base, console_settings(**overrides), operator, viewer_redis)
    try:
        yield httpx.ASGITransport(app=app)
    finally:
        await operator.aclose()
        if viewer_redis is not None:
            await viewer_redis.aclose()


@asynccontextmanager
async def client(
    transport: httpx.ASGITransport, user: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client, logged in as ``user`` when given."""
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
        if user is not None:
            await login(http, TOKENS[user])
        yield http


async def login(http: httpx.AsyncClient, token: str) -> httpx.Response:
    form = await http.get("/login")
    csrf = csrf_of(form.text)
    return await http.post("/login", data={"csrf": csrf, "token": token})


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form token"
    return found.group(1)


async def post_form(http: httpx.AsyncClient, page: str, action: str, **data: Any) -> httpx.Response:
    """Submit a form of ``page`` as a browser would: with the page's form token."""
    html = (await http.get(page)).text
    return await http.post(action, data={"csrf": csrf_of(html), **data})


async def entry_ids(redis: Redis, stream: str) -> list[str]:
    """The ids of every entry of ``stream``, oldest first."""
    return [as_text(entry["_id"]) for entry in await read_stream(redis, stream)]
