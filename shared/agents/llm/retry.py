"""How long to wait before the next attempt of an LLM call.

This is the only retry layer (the HTTP transport never retries by itself), so there is one
budget: at most ``max_attempts`` HTTP attempts per call, exponential backoff with
full jitter between them, and never earlier than the server's ``Retry-After``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.runtime.backoff import full_jitter


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and delays for one call.

    Attributes:
        max_attempts: HTTP attempts per call, the first included (``BATON_LLM_MAX_ATTEMPTS``).
        base_s / cap_s: full-jitter backoff, ``uniform(0, min(cap, base * 2**retry))``.
        max_wait_s: the longest single wait; a ``Retry-After`` beyond it ends the call with a
            retryable error instead, so the event is redelivered later rather than held.
        rand: the random source (tests fix it).
    """

    max_attempts: int = 4
    base_s: float = 0.5
    cap_s: float = 8.0
    max_wait_s: float = 30.0
    rand: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, retry: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retry number ``retry`` (0 for the first retry).

        With a ``Retry-After`` the wait is that long plus a little jitter (at most ``base_s``),
        so many clients told the same time do not return at once. ``None`` when the server asks
        for more than ``max_wait_s``.
        """
        jitter = full_jitter(retry, base=self.base_s, cap=self.cap_s, rand=self.rand)
        if retry_after is None:
            return jitter
        if retry_after > self.max_wait_s:
            return None
        return retry_after + min(jitter, self.base_s)
