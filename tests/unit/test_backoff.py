"""Backoff delays: bounded, capped, growing, and refusing nonsense attempts."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from shared.runtime.backoff import equal_jitter, full_jitter

BASE, CAP = 0.2, 10.0


def top(attempt: int) -> float:
    """The largest delay ``equal_jitter`` can give: the ceiling itself."""
    return equal_jitter(attempt, base=BASE, cap=CAP, rand=lambda: 1.0)


@pytest.mark.parametrize("attempt", [0, 1, 2, 5, 10, 62, 63, 1000])
def test_full_jitter_stays_within_zero_and_the_ceiling(attempt: int) -> None:
    ceiling = min(CAP, BASE * 2.0 ** min(attempt, 62))
    assert full_jitter(attempt, base=BASE, cap=CAP, rand=lambda: 0.0) == 0.0
    assert full_jitter(attempt, base=BASE, cap=CAP, rand=lambda: 0.5) == ceiling / 2
    assert full_jitter(attempt, base=BASE, cap=CAP, rand=lambda: 0.999) < ceiling


@pytest.mark.parametrize("attempt", [0, 1, 2, 5, 10, 62, 1000])
def test_equal_jitter_is_never_below_half_the_ceiling(attempt: int) -> None:
    ceiling = min(CAP, BASE * 2.0 ** min(attempt, 62))
    assert equal_jitter(attempt, base=BASE, cap=CAP, rand=lambda: 0.0) == ceiling / 2
    assert equal_jitter(attempt, base=BASE, cap=CAP, rand=lambda: 1.0) == ceiling


def test_ceiling_doubles_from_the_base() -> None:
    assert [top(n) for n in range(5)] == [0.2, 0.4, 0.8, 1.6, 3.2]


def test_ceiling_is_capped() -> None:
    assert top(6) == CAP
    assert top(10_000) == CAP


def test_ceiling_never_decreases() -> None:
    ceilings = [top(n) for n in range(200)]
    assert ceilings == sorted(ceilings)


def test_huge_attempts_do_not_overflow() -> None:
    assert full_jitter(10**9, base=1.0, cap=30.0, rand=lambda: 1.0) == 30.0


def test_random_delays_stay_in_bounds() -> None:
    rng = random.Random(42)
    for attempt in range(50):
        ceiling = min(CAP, BASE * 2.0**attempt)
        assert 0.0 <= full_jitter(attempt, base=BASE, cap=CAP, rand=rng.random) < ceiling
        assert ceiling / 2 <= equal_jitter(attempt, base=BASE, cap=CAP, rand=rng.random) <= ceiling


@pytest.mark.parametrize("delay", [full_jitter, equal_jitter])
def test_negative_attempt_raises(delay: Callable[..., float]) -> None:
    with pytest.raises(ValueError, match="attempt must be >= 0"):
        delay(-1, base=BASE, cap=CAP)
