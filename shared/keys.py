"""Every Redis key name Baton uses, derived from one prefix in one place."""

from __future__ import annotations

from dataclasses import dataclass

SERVICES = ("intake", "triage", "responder", "validator")
AGENTS = ("intake", "triage", "responder")


@dataclass(frozen=True)
class Keys:
    """Key names under ``prefix`` (``BATON_PREFIX``, default ``baton``)."""

    prefix: str = "baton"

    def stream(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    @property
    def intake(self) -> str:
        return self.stream("intake")

    @property
    def handoffs(self) -> str:
        return self.stream("handoffs")

    @property
    def triage(self) -> str:
        return self.stream("triage")

    @property
    def responder(self) -> str:
        return self.stream("responder")

    @property
    def responses(self) -> str:
        return self.stream("responses")

    @property
    def escalations(self) -> str:
        return self.stream("escalations")

    @property
    def dlq(self) -> str:
        return self.stream("dlq")

    def input_stream(self, service: str) -> str:
        """The one stream a service reads (validator reads the handoffs)."""
        return self.handoffs if service == "validator" else self.stream(service)

    def all_streams(self) -> list[str]:
        names = ("intake", "handoffs", "triage", "responder", "responses", "escalations", "dlq")
        return [self.stream(n) for n in names]

    def run(self, event_id: str) -> str:
        return f"{self.prefix}:run:{event_id}"

    def run_steps(self, event_id: str) -> str:
        return f"{self.prefix}:run:{event_id}:steps"

    def seen(self, event_id: str) -> str:
        """Idempotency marker: set once when intake first accepts an event id."""
        return f"{self.prefix}:seen:{event_id}"

    def budget(self, event_id: str) -> str:
        """The event's token and cost ledger, shared by every service."""
        return f"{self.prefix}:budget:{event_id}"

    def heartbeat(self, service: str, consumer: str) -> str:
        return f"{self.prefix}:heartbeat:{service}:{consumer}"

    def heartbeat_pattern(self, service: str) -> str:
        return f"{self.prefix}:heartbeat:{service}:*"
