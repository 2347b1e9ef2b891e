"""Building blocks shared by every handoff contract."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class Contract(BaseModel):
    """Base of every typed handoff: strict types, unknown fields forbidden, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


EventId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\w.:@-]+$")]
CustomerId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Channel = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_-]*$")
]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
Summary = Annotated[str, StringConstraints(max_length=500)]
Fact = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Score = Annotated[float, Field(ge=0.0, le=1.0)]

MAX_TEXT_CHARS = 16_000
TicketText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS)
]
KeyFacts = Annotated[list[Fact], Field(max_length=10)]
Reasons = Annotated[list[Reason], Field(max_length=10)]
