"""The Chat Completions transport over real HTTP: what it sends, and each way a call can fail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

from shared.agents.llm.failures import classify
from shared.agents.llm.transport import (
    ChatTransport,
    ProviderConnectionError,
    ProviderResponseError,
    ProviderStatusError,
)
from shared.ops.embedded import free_port

Reply = Callable[[web.Request], Awaitable[web.StreamResponse]]
REPLY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": '{"a": 1}'},
                 "finish_reason": "stop", "logprobs": None}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    "system_fingerprint": "fp_1",
}  # fmt: skip


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Reply], Awaitable[str]]]:
    """Serves one handler on a free loopback port; returns the base URL (``.../v1``)."""
    runners: list[web.AppRunner] = []
    seen: list[web.Request] = []

    async def start(reply: Reply) -> str:
        async def handler(request: web.Request) -> web.StreamResponse:
            seen.append(request)
            return await reply(request)

        app = web.Application()
        app.router.add_post("/v1/chat/completions", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return f"http://127.0.0.1:{port}/v1"

    yield start
    for runner in runners:
        await runner.cleanup()


def answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> Reply:
    async def reply(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(status=status, body=body, headers=headers)

    return reply


async def call(base_url: str, body: dict[str, Any] | None = None) -> Any:
    transport = ChatTransport(base_url + "/", "sk-test")
    try:
        async with asyncio.timeout(5):  # the transport leaves a call's time to its caller
            return await transport.complete(body or {"model": "m", "messages": []})
    finally:
        await transport.aclose()


async def test_reply_is_read_and_the_request_carries_the_key_and_json_body(
    serve: Callable[[Reply], Awaitable[str]],
) -> None:
    received: dict[str, Any] = {}

    async def reply(request: web.Request) -> web.StreamResponse:
        received.update(headers=dict(request.headers), body=await request.json())
        return web.json_response(REPLY)

    base = await serve(reply)
    result = await call(base, {"model": "gpt-4o-mini", "messages": [{"role": "user"}]})
    assert result.model == "gpt-4o-mini-2024-07-18"
    assert result.choices[0].message.content == '{"a": 1}'
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None
    assert result.usage.prompt_tokens == 12
    assert received["headers"]["Authorization"] == "Bearer sk-test"
    assert received["headers"]["Content-Type"] == "application/json"
    assert received["body"] == {"model": "gpt-4o-mini", "messages": [{"role": "user"}]}


async def test_error_status_keeps_the_error_object_and_retry_after(
    serve: Callable[[Reply], Awaitable[str]],
) -> None:
    error = {"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded",
                       "param": None}}  # fmt: skip
    base = await serve(answer(429, orjson.dumps(error), {"Retry-After": "2"}))
    with pytest.raises(ProviderStatusError) as caught:
        await call(base)
    assert (caught.value.status, caught.value.code, caught.value.type) == (
        429, "rate_limit_exceeded", "requests"
    )  # fmt: skip
    failure = classify(caught.value)
    assert failure is not None
    assert (failure.kind, failure.retry_after, failure.detail) == (
        "retryable", 2.0, "HTTP 429 from the LLM provider (rate_limit_exceeded)"
    )  # fmt: skip


async def test_error_status_with_a_non_json_body_is_classified_by_status_alone(
    serve: Callable[[Reply], Awaitable[str]],
) -> None:
    base = await serve(answer(502, b"<html>Bad gateway</html>"))
    with pytest.raises(ProviderStatusError) as caught:
        await call(base)
    assert caught.value.code is None
    failure = classify(caught.value)
    assert failure is not None
    assert (failure.kind, failure.outage, failure.detail) == (
        "retryable", True, "HTTP 502 from the LLM provider"
    )  # fmt: skip


@pytest.mark.parametrize("body", [b"<html>ok</html>", b'{"choices": "none"}', b""])
async def test_success_status_with_an_unreadable_body_is_a_bad_response(
    serve: Callable[[Reply], Awaitable[str]], body: bytes
) -> None:
    base = await serve(answer(200, body))
    with pytest.raises(ProviderResponseError) as caught:
        await call(base)
    failure = classify(caught.value)
    assert failure is not None
    assert (failure.kind, failure.cause, failure.status) == ("retryable", "bad_response", 200)


async def test_unreachable_server_is_a_connection_failure() -> None:
    with pytest.raises(ProviderConnectionError) as caught:
        await call(f"http://127.0.0.1:{free_port()}/v1")
    failure = classify(caught.value)
    assert failure is not None
    assert (failure.kind, failure.cause, failure.outage) == ("retryable", "connection", True)


@pytest.mark.parametrize(
    ("base_url", "url", "name"),
    [
        (None, "https://api.openai.com/v1/chat/completions", "https://api.openai.com/v1"),
        ("http://localhost:11434/v1/", "http://localhost:11434/v1/chat/completions",
         "http://localhost:11434/v1"),
        ("https://user:secret@proxy.example/openai/v1?api-version=1",
         "https://user:secret@proxy.example/openai/v1/chat/completions?api-version=1",
         "https://proxy.example/openai/v1"),
    ],
)  # fmt: skip
def test_endpoint_is_joined_to_the_base_url_and_the_name_hides_credentials(
    base_url: str | None, url: str, name: str
) -> None:
    transport = ChatTransport(base_url, "sk-test")
    assert str(transport.url) == url
    assert transport.name == name
