"""One rooted error hierarchy.

The runtime decides what happens to an event from the *kind* of error a stage raises:

* :class:`RetryableError` (and any unexpected exception): the event is delivered again, with
  backoff, until ``max_deliveries`` is reached; then it is dead-lettered as ``max_deliveries``.
* :class:`UnavailableError`: a dependency is down for every event (the LLM provider's breaker is
  open): not the event's failure. The runtime waits until the stage is ready and runs the same
  delivery again, at no cost to its ``max_deliveries``.
* :class:`PermanentError`: retrying cannot help; the event is dead-lettered at once.
* :class:`ContractError`: the input (or an agent's output) breaks its typed contract; dead-lettered
  at once with the raw input, and never shown to an LLM.
* :class:`ProviderError`: an LLM call failed; classified (retryable, permanent, provider down)
  by the LLM client before the runtime sees it.
* :class:`GuardrailError`: a limit of the event was reached (budget, deadline, hops, loop); the
  run ends now with what it has, as an escalation.
* :data:`REDIS_UNAVAILABLE`: Redis is away, slow or (``noeviction``) refusing writes. Not the
  event's fault: the runtime waits it out, and it costs no delivery.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError
from redis.exceptions import TimeoutError as RedisTimeoutError


class BatonError(Exception):
    """Root of every error Baton raises on purpose.

    Args:
        detail: human-readable explanation, safe to log (never raw event text).
        reason: machine-readable reason code used for dead letters and metrics.
    """

    reason = "error"

    def __init__(self, detail: str, *, reason: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if reason is not None:
            self.reason = reason


class RetryableError(BatonError):
    """A transient failure: the same input may succeed on a later delivery."""

    reason = "retryable"


class ProviderError(BatonError):
    """An LLM call failed before a usable reply came back (unreachable, an error status, an
    unreadable body). :mod:`shared.agents.llm.failures` decides whether it is retryable, permanent
    or a
    sign that the provider is down. Messages never quote the provider."""

    reason = "provider_error"


class UnavailableError(RetryableError):
    """The stage's dependency is down for every event, not failing for this one: the LLM
    provider's circuit breaker is open (or a call gave up while it was). The event waits for the
    stage to be ready again and is not charged a delivery."""

    reason = "unavailable"


class PermanentError(BatonError):
    """A failure that will repeat on every delivery; dead-letter without retrying."""

    reason = "permanent"


class ContractError(PermanentError):
    """Input or output that breaks a typed contract.

    Args:
        errors: structured validation errors (field path, message), when known.
        raw: the offending raw input, kept for the dead letter so operators can inspect it.
        event_id: the event id, when it could be read before the failure.
    """

    reason = "contract_violation"

    def __init__(
        self,
        detail: str,
        *,
        reason: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        raw: str | None = None,
        event_id: str | None = None,
    ) -> None:
        super().__init__(detail, reason=reason)
        self.errors = errors or []
        self.raw = raw
        self.event_id = event_id


class ConfigError(BatonError):
    """Settings that cannot work together; raised at start-up, never per event."""

    reason = "config_error"


class GuardrailError(BatonError):
    """A limit was reached; the run must end now with what it has."""


REDIS_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OutOfMemoryError, OSError)
"""Conditions to wait out rather than fail on: Redis away or slow, or out of memory and refusing
writes that could grow it, such as heartbeats or creating a group."""
STAGE_REDIS_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OutOfMemoryError)
"""The same, raised by a stage's own Redis calls (budget ledger, rate limits). No bare OSError or
TimeoutError: an LLM call timing out is the event's failure and counts."""
