"""The keys of a pipeline: the runtime's, plus the streams every pipeline has."""

from __future__ import annotations

from dataclasses import dataclass

from shared.runtime.keys import RuntimeKeys

HANDOFFS = "handoffs"
RESPONSES = "responses"
ESCALATIONS = "escalations"
DLQ = "dlq"


@dataclass(frozen=True)
class Keys(RuntimeKeys):
    """Key names under ``prefix`` (``BATON_PREFIX``, default ``baton``)."""

    @property
    def handoffs(self) -> str:
        return self.stream(HANDOFFS)

    @property
    def responses(self) -> str:
        return self.stream(RESPONSES)

    @property
    def escalations(self) -> str:
        return self.stream(ESCALATIONS)

    @property
    def audit(self) -> str:
        """What operators changed from the console (who, what, when)."""
        return self.stream("audit")
