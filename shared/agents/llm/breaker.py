"""A circuit breaker for one LLM provider (one base URL), local to the process.

States:

* ``closed``: calls go through; ``failure_threshold`` consecutive outage failures (timeouts,
  connection errors, 5xx, 408) open the breaker. Any answer from the server resets the count.
* ``open``: calls fail fast with ``UnavailableError(reason="circuit_open")`` for ``cooldown_s``.
* ``half_open``: after the cool-down, exactly one call (the probe) goes through. Calls arriving
  while it is in flight wait for its verdict: success closes the breaker and they proceed, an
  outage failure opens it again for another cool-down and they fail fast.

The consumer runtime stops taking new events while :attr:`state` is ``open`` by awaiting
:meth:`wait_until_available` before each read, and an event whose call met the open breaker
waits the same way (:class:`~shared.errors.UnavailableError` costs it no delivery).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog

from shared.agents.llm.client import Availability
from shared.errors import UnavailableError

log = structlog.get_logger("baton.llm")

CIRCUIT_OPEN = "circuit_open"


class Permit:
    """The right to make one call; report its outcome exactly once (later reports are ignored)."""

    def __init__(self, breaker: CircuitBreaker, probe: bool) -> None:
        self._breaker = breaker
        self.probe = probe
        self._done = False

    def success(self) -> None:
        """The server answered (any answer that is not an outage, 4xx and 429 included)."""
        if not self._done:
            self._done = True
            self._breaker._on_success(self)

    def failure(self) -> None:
        """The call failed in a way that suggests an outage."""
        if not self._done:
            self._done = True
            self._breaker._on_failure(self)

    def release(self) -> None:
        """No verdict (cancelled, or stopped before reaching the server)."""
        if not self._done:
            self._done = True
            self._breaker._on_release(self)


class CircuitBreaker:
    """Consecutive-failure breaker. ``clock`` is injectable for tests (monotonic seconds)."""

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int,
        cooldown_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or cooldown_s <= 0:
            raise ValueError("failure_threshold must be >= 1 and cooldown_s > 0")
        self.name = name
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self._changed = asyncio.Event()

    @property
    def state(self) -> Availability:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at < self.cooldown_s:
            return "open"
        return "half_open"

    @property
    def retry_in_s(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.cooldown_s - self._clock())

    async def acquire(self) -> Permit:
        """A permit for one call.

        Raises:
            UnavailableError: reason ``circuit_open`` while the breaker is open (also when a
                half-open probe fails while this call waits for its verdict).
        """
        while True:
            state = self.state
            if state == "closed":
                return Permit(self, probe=False)
            if state == "open":
                raise UnavailableError(
                    f"circuit open for the LLM provider {self.name}; "
                    f"next probe in {self.retry_in_s:.1f}s",
                    reason=CIRCUIT_OPEN,
                )
            if not self._probing:
                self._probing = True
                return Permit(self, probe=True)
            await self._changed.wait()

    async def wait_until_available(self) -> None:
        """Return once a call could go through: the breaker is closed, or half-open and free.

        While open it sleeps until the cool-down ends; while a half-open probe is in flight it
        waits for the probe's verdict. Returns at once when the breaker is closed. It never
        raises; wrap it in ``asyncio.timeout`` to bound the wait.
        """
        while True:
            state = self.state
            if state == "closed":
                return
            if state == "open":
                await self._sleep_or_change(self.retry_in_s)
            elif not self._probing:
                return
            else:
                await self._changed.wait()

    async def _sleep_or_change(self, seconds: float) -> None:
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout=max(seconds, 0.001))

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _on_success(self, permit: Permit) -> None:
        self._failures = 0
        if permit.probe:
            self._probing = False
        if self._opened_at is not None:
            self._opened_at = None
            log.info("llm.breaker.closed", provider=self.name)
        self._notify()

    def _on_failure(self, permit: Permit) -> None:
        if permit.probe:
            self._probing = False
            self._open("probe failed")
            return
        self._failures += 1
        if self._opened_at is None and self._failures >= self.failure_threshold:
            self._open(f"{self._failures} consecutive failures")

    def _on_release(self, permit: Permit) -> None:
        if permit.probe:
            self._probing = False
            self._notify()

    def _open(self, why: str) -> None:
        self._opened_at = self._clock()
        log.warning("llm.breaker.open", provider=self.name, why=why, cooldown_s=self.cooldown_s)
        self._notify()
