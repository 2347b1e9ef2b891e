"""The contract between the consumer runtime and a service's logic."""

from __future__ import annotations

from typing import Protocol, TypeVar

from shared.runtime.delivery import Delivery, Fields
from shared.runtime.outcome import Outcome


class Event(Protocol):
    """What the runtime needs to know of a decoded entry (the pipeline's envelope is one): whose
    event it is, and what a dead letter keeps of it."""

    @property
    def event_id(self) -> str: ...

    @property
    def attempt(self) -> int:
        """How often the event was sent back to the same stage (a clarification retry)."""
        ...

    @property
    def created_at(self) -> float:
        """When the event entered the pipeline."""
        ...

    @property
    def traceparent(self) -> str | None: ...

    def to_fields(self) -> Fields:
        """The entry's fields as it would be written again (``envelope`` among them)."""
        ...


E = TypeVar("E", bound=Event)


class Stage(Protocol[E]):
    """What a service plugs into :class:`shared.runtime.consumer.Worker`.

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

    def decode(self, delivery: Delivery) -> E:
        """Parse the entry. Raise :class:`shared.errors.ContractError` for anything malformed."""
        ...

    async def ready(self) -> None:
        """Return when the stage can take new events (e.g. its LLM provider's breaker is not
        open); the runtime awaits it before each read, so events wait in the stream meanwhile."""
        ...

    async def aclose(self) -> None:
        """Release what the stage holds (HTTP clients) at shutdown."""
        ...

    async def handle(self, event: E, delivery: Delivery) -> Outcome:
        """Decide what the event becomes.

        Raise :class:`shared.errors.PermanentError` to dead-letter at once, or
        :class:`shared.errors.RetryableError` (or let any other error escape) to be retried.
        """
        ...
