"""A global LLM rate limit, shared by every replica through Redis.

Limits are requests per minute and tokens per minute, per model (``BATON_LLM_RPM``,
``BATON_LLM_TPM``, per-model ``BATON_LLM_LIMITS``; 0 means no limit). The window is a *sliding
minute made of 1-second buckets*: ``shared/runtime/lua/llm_rate.lua`` keeps one hash per model and
dimension, a field per second, and counts the last 60 fields. It is exact to within one bucket
(a reservation leaves the window between 59 and 60 s after it was made), never lets a burst of
twice the limit through at a minute boundary as a fixed window would, and computes how long a
caller must wait rather than having it poll. Time comes from the Redis server, so replicas on
different hosts agree on it.

Each call reserves an estimate first (prompt estimate plus ``max_tokens``, as OpenAI's own limiter
counts) and settles it with the real usage from the response afterwards, so the window holds actual
spend. A caller that does not fit sleeps until it does, up to ``max_wait_s``; beyond that it gets
``RetryableError(reason="rate_limited")`` and the event is redelivered later.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.errors import RetryableError
from shared.runtime.commit import load_lua

log = structlog.get_logger("baton.llm")

RATE_LIMITED = "rate_limited"
REDIS_UNAVAILABLE = "redis_unavailable"


@dataclass(frozen=True)
class Limit:
    """Requests and tokens per window; 0 means unlimited."""

    rpm: int = 0
    tpm: int = 0

    @property
    def unlimited(self) -> bool:
        return self.rpm <= 0 and self.tpm <= 0


@dataclass(frozen=True)
class Reservation:
    """What :meth:`RateLimiter.acquire` took; hand it back to :meth:`RateLimiter.settle`."""

    model: str
    bucket: int
    tokens: int


def rate_keys(prefix: str, model: str) -> tuple[str, str]:
    """The request and token hashes of ``model`` (hash-tagged to one Redis Cluster slot)."""
    base = f"{prefix}:llm:rate:{{{model}}}"
    return f"{base}:req", f"{base}:tok"


class RateLimiter:
    """Reserve-then-settle limiter over ``llm_rate.lua``.

    Args:
        redis: the shared Redis.
        prefix: the key prefix (``BATON_PREFIX``).
        default: the limit for models without an entry in ``per_model``.
        per_model: overrides by exact model name.
        max_wait_s: the longest a call waits for capacity before giving up.
        window_s / bucket_s: the sliding window and its granularity (60 s of 1 s buckets;
            tests use shorter ones).
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        default: Limit,
        per_model: Mapping[str, Limit] | None = None,
        max_wait_s: float,
        window_s: float = 60.0,
        bucket_s: float = 1.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if bucket_s <= 0 or window_s < bucket_s:
            raise ValueError("need 0 < bucket_s <= window_s")
        self._prefix = prefix
        self.default = default
        self.per_model = dict(per_model or {})
        self.max_wait_s = max_wait_s
        self._bucket_ms = max(1, round(bucket_s * 1000))
        self._nbuckets = max(1, round(window_s / bucket_s))
        self._rand = rand
        source = load_lua("llm_rate.lua")
        self._script = redis.register_script(source)

    def limit_for(self, model: str) -> Limit:
        return self.per_model.get(model, self.default)

    async def acquire(self, model: str, tokens: int) -> Reservation | None:
        """Reserve one request and ``tokens`` for ``model``, waiting for room if needed.

        Returns ``None`` when the model is unlimited (nothing to settle).

        Raises:
            RetryableError: ``rate_limited`` when room would take longer than ``max_wait_s``;
                ``redis_unavailable`` when Redis cannot be reached.
        """
        limit = self.limit_for(model)
        if limit.unlimited:
            return None
        tokens = max(0, tokens)
        if limit.tpm > 0:
            tokens = min(tokens, limit.tpm)
        deadline = time.monotonic() + self.max_wait_s
        args: list[str | int] = [
            "reserve",
            self._bucket_ms,
            self._nbuckets,
            limit.rpm,
            limit.tpm,
            tokens,
        ]
        while True:
            granted, wait_ms, bucket = await self._run(model, args)
            if granted:
                return Reservation(model, int(bucket), tokens)
            wait = wait_ms / 1000 + self._rand() * self._bucket_ms / 4000
            if time.monotonic() + wait > deadline:
                raise RetryableError(
                    f"LLM rate limit for {model} has no room within {self.max_wait_s:g}s "
                    f"(rpm={limit.rpm}, tpm={limit.tpm})",
                    reason=RATE_LIMITED,
                )
            log.debug("llm.rate.wait", model=model, wait_s=round(wait, 3))
            await asyncio.sleep(wait)

    async def settle(self, reservation: Reservation | None, actual_tokens: int) -> None:
        """Replace the reserved token estimate with ``actual_tokens``. Never raises."""
        if reservation is None or actual_tokens == reservation.tokens:
            return
        delta = actual_tokens - reservation.tokens
        args: list[str | int] = [
            "settle",
            self._bucket_ms,
            self._nbuckets,
            reservation.bucket,
            delta,
        ]
        try:
            await self._run(reservation.model, args)
        except RetryableError:
            log.warning("llm.rate.settle_failed", model=reservation.model)

    async def _run(self, model: str, args: list[str | int]) -> list[int]:
        try:
            result = await self._script(keys=list(rate_keys(self._prefix, model)), args=args)
        except (RedisError, OSError) as exc:
            raise RetryableError(
                f"Redis unavailable for the LLM rate limit ({type(exc).__name__})",
                reason=REDIS_UNAVAILABLE,
            ) from None
        return [int(x) for x in result] + [0] * (3 - len(result))
