"""The Redis keys the runtime writes, derived from one prefix in one place.

Which streams exist is a pipeline's to say; :class:`shared.pipeline.keys.Keys` adds the ones every
pipeline has.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuntimeKeys:
    """Key names under ``prefix`` (``BATON_PREFIX``, default ``baton``)."""

    prefix: str = "baton"

    def stream(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    @property
    def dlq(self) -> str:
        return self.stream("dlq")

    def run(self, event_id: str) -> str:
        return f"{self.prefix}:run:{event_id}"

    def run_steps(self, event_id: str) -> str:
        return f"{self.prefix}:run:{event_id}:steps"

    def seen(self, event_id: str) -> str:
        """Idempotency marker: set once when the entry stage first accepts an event id."""
        return f"{self.prefix}:seen:{event_id}"

    def budget(self, event_id: str) -> str:
        """The event's token and cost ledger, shared by every service."""
        return f"{self.prefix}:budget:{event_id}"

    def heartbeat(self, service: str, consumer: str) -> str:
        return f"{self.prefix}:heartbeat:{service}:{consumer}"

    def heartbeat_pattern(self, service: str) -> str:
        return f"{self.prefix}:heartbeat:{service}:*"
