"""The versioned envelope every internal stream entry carries, and its wire format.

An internal entry has three flat fields: ``event_id`` (cheap filtering), ``traceparent`` (W3C trace
context, so any tool can follow the trace without parsing JSON) and ``envelope`` (the JSON below).
Entries that producers post to the intake stream have a single ``payload`` field instead; see
:mod:`shared.pipeline.submission`.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from shared.errors import ContractError
from shared.pipeline.contracts.base import EventId, Reason
from shared.runtime.delivery import Fields as Fields  # re-exported: the envelope's wire type

SCHEMA_VERSION = 1
StageName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
"""An agent of the pipeline, ``validator``, ``producer`` (a submission) or ``operator``."""


class Halt(BaseModel):
    """Why an agent stopped early (a guardrail), for the validator to end the run with."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    reason: Reason
    detail: str = Field(max_length=1000)


class Envelope(BaseModel):
    """One event at one hop. ``event_id`` never changes across hops, retries or replays.

    Attributes:
        stage: the stage that produced ``payload``.
        payload: the stage's typed contract, as JSON data (validated by its reader).
        input: for agent outputs, the input the agent was given (so the validator can send it
            back with feedback for a clarification retry).
        results: validated outputs of earlier stages, keyed by stage.
        attempt: clarification attempt of the stage that will read this envelope (0 = first).
        feedback: the validator's findings on the previous attempt, for the agent to fix.
        hops: how many times this event has been published so far.
        created_at / produced_at: epoch seconds at intake and at this publish.
        budget_tokens / budget_usd: this event's own LLM budget, when its producer set one.
        trail: fingerprints of the inputs each stage was given (loop detection).
        clarifications: how many agent outputs the validator has sent back so far.
        halt: set by an agent that stopped on a guardrail; the validator ends the run.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    schema_version: int = SCHEMA_VERSION
    event_id: EventId
    stage: StageName
    payload: dict[str, Any]
    input: dict[str, Any] | None = None
    results: dict[str, dict[str, Any]] = Field(default_factory=dict)
    attempt: int = Field(default=0, ge=0, le=100)
    feedback: list[Reason] = Field(default_factory=list, max_length=20)
    hops: int = Field(default=0, ge=0)
    created_at: float
    produced_at: float
    budget_tokens: int | None = Field(default=None, ge=1)
    budget_usd: float | None = Field(default=None, ge=0)
    trail: list[str] = Field(default_factory=list, max_length=256)
    clarifications: int = Field(default=0, ge=0)
    halt: Halt | None = None
    traceparent: str | None = Field(default=None, max_length=128)
    tracestate: str | None = Field(default=None, max_length=512)

    def next(self, stage: str, payload: dict[str, Any], **changes: Any) -> Envelope:
        """The envelope for the next hop: same event, one more hop, fresh timestamp."""
        update: dict[str, Any] = {
            "stage": stage,
            "payload": payload,
            "hops": self.hops + 1,
            "produced_at": time.time(),
            "input": None,
            "feedback": [],
            "attempt": 0,
            "halt": None,
        }
        update.update(changes)
        return self.model_copy(update=update)

    def to_fields(self) -> Fields:
        """Encode as stream entry fields."""
        fields: Fields = {
            b"event_id": self.event_id.encode(),
            b"envelope": self.__pydantic_serializer__.to_json(self),
        }
        if self.traceparent:
            fields[b"traceparent"] = self.traceparent.encode()
        return fields

    @classmethod
    def from_fields(cls, fields: Fields) -> Envelope:
        """Decode an internal stream entry, raising :class:`ContractError` on anything off."""
        raw = fields.get(b"envelope")
        if raw is None:
            raise ContractError("entry has no 'envelope' field", event_id=_event_id_of(fields))
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ContractError(
                f"envelope is not valid JSON: {exc}",
                reason="parse_error",
                raw=raw.decode("utf-8", "replace"),
                event_id=_event_id_of(fields),
            ) from exc
        if isinstance(data, dict) and data.get("schema_version") != SCHEMA_VERSION:
            raise ContractError(
                f"unsupported schema_version {data.get('schema_version')!r}",
                reason="unsupported_schema",
                event_id=_event_id_of(fields),
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ContractError(
                f"envelope breaks its contract: {exc.error_count()} error(s)",
                errors=validation_errors(exc),
                raw=raw.decode("utf-8", "replace"),
                event_id=_event_id_of(fields),
            ) from exc


def _event_id_of(fields: Fields) -> str | None:
    value = fields.get(b"event_id")
    return value.decode("utf-8", "replace") if value else None


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Field paths and messages of a validation error, without echoing the (maybe PII) input."""
    return [
        {"loc": ".".join(str(p) for p in err["loc"]), "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_input=False, include_url=False)
    ]
