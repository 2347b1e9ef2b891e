"""Backoff delays: small pure functions, so callers and tests control the randomness."""

from __future__ import annotations

import random
from collections.abc import Callable


def full_jitter(
    attempt: int, *, base: float, cap: float, rand: Callable[[], float] = random.random
) -> float:
    """A delay drawn uniformly from ``[0, min(cap, base * 2**attempt))`` (AWS "full jitter").

    Spreads retries of many clients evenly; use it where a near-zero delay is harmless.
    """
    return rand() * _ceiling(attempt, base, cap)


def equal_jitter(
    attempt: int, *, base: float, cap: float, rand: Callable[[], float] = random.random
) -> float:
    """Half the exponential delay fixed, half random: never close to zero.

    For reconnect loops, where a zero delay would hammer a server that is down.
    """
    ceiling = _ceiling(attempt, base, cap)
    return ceiling / 2 + rand() * ceiling / 2


def _ceiling(attempt: int, base: float, cap: float) -> float:
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    return min(cap, base * float(2 ** min(attempt, 62)))
