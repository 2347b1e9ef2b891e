"""How cross-cutting concerns plug into the runtime: tracing, metrics and log context wrap each
stage attempt and see each commit, without the runtime knowing any of them.

The runtime (:mod:`shared.runtime.processor`) calls one :class:`Hooks` object around every attempt;
``shared.observability.observe.Observer`` is the implementation a service process runs with, and
:class:`NoHooks` the one that does nothing.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

from shared.runtime.delivery import Delivery
from shared.runtime.outcome import Outcome, Publish


class Hooks(Protocol):
    def attempt(
        self, stream: str, consumer: str, delivery: Delivery
    ) -> AbstractContextManager[object]:
        """Wraps one stage attempt on one delivery, from decoding to the commit."""
        ...

    def failed(self, reason: str) -> None:
        """An attempt failed and will be retried (or dead-lettered): ``reason`` says why."""
        ...

    def stamp_publishes(self, outcome: Outcome, delivery: Delivery) -> list[Publish]:
        """The outcome's publishes as they will be written (e.g. with trace context added)."""
        ...

    def committed(self, outcome: Outcome, commit: str) -> None:
        """The outcome went through the fenced commit; ``commit`` is how it went."""
        ...


class NoHooks:
    """Hooks that do nothing: publishes go out as the stage made them."""

    def attempt(
        self, stream: str, consumer: str, delivery: Delivery
    ) -> AbstractContextManager[object]:
        return nullcontext()

    def failed(self, reason: str) -> None:
        return None

    def stamp_publishes(self, outcome: Outcome, delivery: Delivery) -> list[Publish]:
        return list(outcome.publishes)

    def committed(self, outcome: Outcome, commit: str) -> None:
        return None
