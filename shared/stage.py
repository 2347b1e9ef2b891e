"""The contract between the consumer runtime and a service's logic."""

from __future__ import annotations

import asyncio
from typing import Protocol, runtime_checkable

from shared.delivery import Delivery
from shared.envelope import Envelope
from shared.outcome import Outcome


class Stage(Protocol):
    """What a service plugs into :class:`shared.consumer.Worker`.

    The runtime reads, acknowledges, reclaims, retries, dead-letters and commits; a stage only
    turns one delivery into an :class:`Outcome`.
    """

    @property
    def service(self) -> str:
        """The service name, which is also the consumer group name."""
        ...

    @property
    def stream(self) -> str:
        """The key of the one stream the service reads."""
        ...

    def decode(self, delivery: Delivery) -> Envelope:
        """Parse the entry. Raise :class:`shared.errors.ContractError` for anything malformed."""
        ...

    async def ready(self) -> None:
        """Return when the stage can take new events (e.g. its LLM provider's breaker is not
        open); the runtime awaits it before each read, so events wait in the stream meanwhile."""
        ...

    async def aclose(self) -> None:
        """Release what the stage holds (HTTP clients) at shutdown."""
        ...

    async def handle(self, envelope: Envelope, delivery: Delivery) -> Outcome:
        """Decide what the event becomes.

        Raise :class:`shared.errors.PermanentError` to dead-letter at once, or
        :class:`shared.errors.RetryableError` (or let any other error escape) to be retried.
        """
        ...


@runtime_checkable
class Upkeep(Protocol):
    """A stage with a loop of its own to run beside the worker (the validator's join deadline
    sweep); it returns once ``stop`` is set."""

    async def upkeep(self, stop: asyncio.Event) -> None: ...
