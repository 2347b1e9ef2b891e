"""What went wrong with one provider call, and what to do about it.

:func:`classify` turns an exception from the transport (:mod:`shared.agents.llm.transport`) or our
own overall timeout into a :class:`Failure`: retry it or not, does it count against the circuit
breaker, how long the server asked us to wait. Details are built from the status and the
provider's error *code* only, never from the provider's message, which may echo the prompt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

from shared.agents.llm.transport import (
    ProviderConnectionError,
    ProviderResponseError,
    ProviderStatusError,
)

Kind = Literal["retryable", "permanent", "schema_unsupported", "completion_tokens"]

RETRYABLE_STATUS = frozenset({408, 409, 429})
"""Besides every 5xx: the statuses the provider invites us to try again."""

OUTAGE_STATUS = frozenset({408})
"""Besides every 5xx, timeouts and connection errors: what the circuit breaker counts."""

NOT_ABOUT_THE_REQUEST = frozenset({401, 403, 408, 429})
"""Statuses whose body is not read as an answer about ``response_format``."""

_SCHEMA_HINTS = ("response_format", "json_schema", "structured output", "'json_object'")
_SAFE = re.compile(r"[^\w.:-]")


@dataclass(frozen=True)
class Failure:
    """One failed attempt.

    Attributes:
        kind: ``retryable`` (try again after backoff), ``permanent`` (give up now) or
            ``schema_unsupported`` (an error whose body rejects ``response_format``, whatever
            its status: try the next weaker mode when the structured mode is ``auto``) or
            ``completion_tokens`` (a 400 asking for ``max_completion_tokens``: a reasoning model).
        cause: a short machine-readable cause: ``timeout``, ``connection``, ``http_429``, ...
        status: the HTTP status, when the server answered.
        retry_after: seconds the server asked us to wait (``retry-after-ms`` or ``retry-after``).
        outage: the failure suggests the provider is down; it counts against the breaker.
        detail: a log-safe description (status and error code, no provider message).
    """

    kind: Kind
    cause: str
    status: int | None = None
    retry_after: float | None = None
    outage: bool = False
    detail: str = ""


def classify(exc: BaseException, *, now: datetime | None = None) -> Failure | None:
    """The :class:`Failure` for ``exc``, or ``None`` when it is not a provider call failure."""
    if isinstance(exc, TimeoutError):
        return Failure("retryable", "timeout", outage=True, detail="the LLM call timed out")
    if isinstance(exc, ProviderConnectionError):
        return Failure(
            "retryable", "connection", outage=True, detail="could not reach the LLM provider"
        )
    if isinstance(exc, ProviderStatusError):
        return _status_failure(exc, now)
    if isinstance(exc, ProviderResponseError):
        return Failure(
            "retryable", "bad_response", status=exc.status, outage=True,
            detail=f"HTTP {exc.status} from the LLM provider with an unreadable body",
        )  # fmt: skip
    return None


def _status_failure(exc: ProviderStatusError, now: datetime | None) -> Failure:
    status = exc.status
    code = _safe_code(exc)
    detail = f"HTTP {status} from the LLM provider" + (f" ({code})" if code else "")
    cause = f"http_{status}"
    wait = parse_retry_after(exc.headers, now=now)
    if status == 400 and "max_completion_tokens" in exc.text:
        # A reasoning model: "Unsupported parameter: 'max_tokens' ... use max_completion_tokens".
        return Failure("completion_tokens", cause, status, detail=detail)
    if status not in NOT_ABOUT_THE_REQUEST and _mentions_schema(exc):
        # A capability answer whatever the status: llama-cpp-python's server answers 500
        # "Input should be 'text' or 'json_object'" to a json_schema response_format.
        return Failure("schema_unsupported", cause, status, detail=detail)
    if status >= 500 or status in RETRYABLE_STATUS:
        outage = status >= 500 or status in OUTAGE_STATUS
        return Failure("retryable", cause, status, wait, outage, detail)
    return Failure("permanent", cause, status, detail=detail)


def _safe_code(exc: ProviderStatusError) -> str:
    """The provider's error code or type, reduced to an identifier (no free text)."""
    raw = exc.code or exc.type or ""
    return _SAFE.sub("", str(raw))[:64]


def _mentions_schema(exc: ProviderStatusError) -> bool:
    text = f"{exc.text} {exc.param or ''}".lower()
    return any(hint in text for hint in _SCHEMA_HINTS)


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, else ``retry-after`` (seconds or an HTTP date).

    Returns ``None`` when neither header is present or readable; never a negative number.
    """
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
