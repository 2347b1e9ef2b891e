"""One Chat Completions request to an OpenAI-compatible server, over aiohttp.

Baton sends ``POST {base_url}/chat/completions`` with a bearer key and a JSON body, and reads only
what it uses of the reply (choices, finish reason, refusal, usage, model), validated by pydantic.
It does not go through the ``openai`` SDK: the SDK's request and response layers (option objects,
an httpx request and response around the transport, recursive construction of the whole reply)
cost 500-650 µs of CPU per call, four times the HTTP exchange itself, and at hundreds of calls
in flight per worker that, not the network, bounded a worker's throughput.

Failures come out as :class:`ProviderError` subclasses, which :mod:`shared.llm.failures`
classifies; a timeout is the caller's (``asyncio.timeout``) and surfaces as ``TimeoutError``.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from pydantic import BaseModel, ConfigDict, ValidationError
from yarl import URL

from shared.jsonbytes import compact_json

DEFAULT_BASE_URL = "https://api.openai.com/v1"
ERROR_TEXT_LIMIT = 2000
"""Characters of an error reply kept for classification (never logged: it may echo the prompt)."""


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ReplyMessage(_Reply):
    content: str | None = None
    refusal: str | None = None


class ReplyChoice(_Reply):
    message: ReplyMessage
    finish_reason: str | None = None


class ReplyUsage(_Reply):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatReply(_Reply):
    """The parts of a Chat Completions reply that Baton reads."""

    model: str | None = None
    choices: list[ReplyChoice] = []
    usage: ReplyUsage | None = None


class ProviderError(Exception):
    """A call failed before a usable reply came back. Messages never quote the provider."""


class ProviderConnectionError(ProviderError):
    """The server could not be reached, or dropped the connection before replying."""


class ProviderResponseError(ProviderError):
    """A success status with a body that is not a Chat Completions reply."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status} with an unreadable body")
        self.status = status


class ProviderStatusError(ProviderError):
    """An error status. ``code``, ``type`` and ``param`` come from the OpenAI-style error object
    when the body has one; ``text`` is the start of the raw body."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.headers = headers
        self.text = body[:ERROR_TEXT_LIMIT].decode("utf-8", "replace")
        error = _error_object(body)
        self.code = _text_field(error, "code")
        self.type = _text_field(error, "type")
        self.param = _text_field(error, "param")


def _error_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def _text_field(error: dict[str, Any], name: str) -> str | None:
    value = error.get(name)
    return str(value) if value is not None else None


class ChatTransport:
    """Sends Chat Completions requests to ``base_url`` over one pooled aiohttp session.

    The session is opened on the first call (aiohttp sessions belong to a running event loop)
    and kept: connections are reused across calls. The number of connections is not capped here;
    the worker's ``BATON_CONCURRENCY`` bounds the calls in flight. Nor is a call's time: the
    caller bounds it (``asyncio.timeout``), so a call carries one timer, not two.
    """

    def __init__(self, base_url: str | None, api_key: str) -> None:
        base = URL(base_url or DEFAULT_BASE_URL)
        path = base.path.rstrip("/")
        self.url = base.with_path(path + "/chat/completions").with_query(base.query)
        port = f":{base.explicit_port}" if base.explicit_port else ""
        self.name = f"{base.scheme}://{base.host}{port}{path}"
        """The base URL without credentials or query, for logs and the breaker's name."""
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(total=None),
                raise_for_status=False,
            )
        return self._session

    async def complete(self, body: dict[str, Any]) -> ChatReply:
        """Send ``body``; the reply, or a :class:`ProviderError` (``TimeoutError`` on timeout)."""
        try:
            async with self._open().post(
                self.url, data=compact_json(body), headers=self._headers
            ) as response:
                status = response.status
                raw = await response.read()
                headers = (
                    {} if status < 300 else {k.lower(): v for k, v in response.headers.items()}
                )
        except TimeoutError:
            raise
        except (aiohttp.ClientError, OSError) as exc:
            raise ProviderConnectionError(type(exc).__name__) from exc
        if status >= 300:
            raise ProviderStatusError(status, headers, raw)
        try:
            return ChatReply.model_validate_json(raw)
        except ValidationError:
            raise ProviderResponseError(status) from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
