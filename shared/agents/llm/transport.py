"""One Chat Completions request to an OpenAI-compatible server, through the official ``openai`` SDK.

One :class:`openai.AsyncOpenAI` (or :class:`openai.AsyncAzureOpenAI`) per base URL, shared by
every call of the worker, on the SDK's aiohttp transport (``openai[aiohttp]``): the SDK owns the
endpoint, authentication, the organisation and project headers and Azure's deployment URLs. It is
configured for throughput: no SDK retries (:mod:`shared.agents.llm.retry` retries, under the
breaker and
the rate limit), no SDK timeout besides a backstop (the caller's ``asyncio.timeout`` bounds the
call), and the reply is read as raw bytes into the small pydantic model below rather than the
SDK's full ``ChatCompletion`` (what Baton reads: choices, finish reason, refusal, usage, model).
The SDK's request path costs more CPU per call than a bare aiohttp POST did; docs/performance.md
gives both figures.

Failures come out as :class:`ProviderError` subclasses, which :mod:`shared.agents.llm.failures`
classifies; a timeout is the caller's (``asyncio.timeout``) and surfaces as ``TimeoutError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx2
import openai
import orjson
from pydantic import BaseModel, ConfigDict, ValidationError
from yarl import URL

from shared.errors import ProviderError
from shared.runtime.jsonbytes import compact_json

DEFAULT_BASE_URL = "https://api.openai.com/v1"
JSON_CONTENT = {"Content-Type": "application/json"}
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


@dataclass(frozen=True)
class AzureTarget:
    """An Azure OpenAI resource: ``endpoint`` (``https://NAME.openai.azure.com``) and the API
    version; the model name of a request is its deployment."""

    endpoint: str
    api_version: str


class ChatTransport:
    """Sends Chat Completions requests to ``base_url`` through one shared SDK client.

    The client (and its aiohttp session) is opened on the first call, inside the running event
    loop, and kept: connections are reused across calls. Args beyond the URL and key: the
    ``OpenAI-Organization`` and ``OpenAI-Project`` headers, an Azure resource instead of a base
    URL, and a backstop timeout (the caller's own is shorter).
    """

    def __init__(
        self,
        base_url: str | None,
        api_key: str,
        *,
        organization: str | None = None,
        project: str | None = None,
        azure: AzureTarget | None = None,
        backstop_s: float = 600.0,
    ) -> None:
        base = URL(azure.endpoint if azure else (base_url or DEFAULT_BASE_URL))
        path = base.path.rstrip("/")
        self.url = base.with_path(path + "/chat/completions").with_query(base.query)
        port = f":{base.explicit_port}" if base.explicit_port else ""
        self.name = f"{base.scheme}://{base.host}{port}{path}"
        """The base URL without credentials or query, for logs and the breaker's name."""
        self._base_url = str(base)
        self._api_key = api_key
        self._organization = organization
        self._project = project
        self._azure = azure
        self._backstop_s = backstop_s
        self._client: openai.AsyncOpenAI | None = None

    def _open(self) -> openai.AsyncOpenAI:
        if self._client is None:
            common: dict[str, Any] = {
                "api_key": self._api_key,
                "organization": self._organization,
                "project": self._project,
                "max_retries": 0,
                "timeout": self._backstop_s,
                "http_client": openai.DefaultAioHttpClient(timeout=self._backstop_s),
            }
            if self._azure is not None:
                self._client = openai.AsyncAzureOpenAI(
                    azure_endpoint=self._azure.endpoint, api_version=self._azure.api_version,
                    **common,
                )  # fmt: skip
            else:
                self._client = openai.AsyncOpenAI(base_url=self._base_url, **common)
        return self._client

    async def complete(self, body: dict[str, Any]) -> ChatReply:
        """Send ``body``; the reply, or a :class:`ProviderError` (``TimeoutError`` on timeout)."""
        try:
            # The body goes as bytes (orjson): the SDK's stdlib JSON encoding was ~20% of a call.
            response = await self._open().post(
                self._path(body), cast_to=httpx2.Response, content=compact_json(body),
                options={"headers": JSON_CONTENT},
            )  # fmt: skip
        except openai.APIConnectionError as exc:  # APITimeoutError included
            refused = _refused(exc)
            if refused is not None:  # the aiohttp transport reports a refusal as a timeout
                raise ProviderConnectionError(type(refused).__name__) from exc
            if isinstance(exc, openai.APITimeoutError):
                raise TimeoutError("the LLM call timed out") from exc
            raise ProviderConnectionError(type(exc.__cause__ or exc).__name__) from exc
        except openai.APIStatusError as exc:
            raw = exc.response.content
            headers = {k.lower(): v for k, v in exc.response.headers.items()}
            raise ProviderStatusError(exc.status_code, headers, raw) from None
        try:
            return ChatReply.model_validate_json(response.content)
        except ValidationError:
            raise ProviderResponseError(response.status_code) from None

    def _path(self, body: dict[str, Any]) -> str:
        """Azure serves each model (deployment) at a path of its own."""
        if self._azure is None:
            return "/chat/completions"
        return f"/deployments/{quote(str(body.get('model', '')), safe='')}/chat/completions"

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _refused(exc: BaseException) -> OSError | None:
    """The connection error (not a timeout) somewhere in ``exc``'s causes, if any."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, OSError) and not isinstance(seen, TimeoutError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
