"""What a stage decided for one entry: the writes that commit together with its acknowledgement."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from shared.runtime.delivery import Fields

D = TypeVar("D")

RunStatus = Literal["in_progress", "responded", "escalated", "dead_lettered"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"responded", "escalated", "dead_lettered"})


@dataclass(frozen=True)
class Publish:
    """One XADD to ``stream``.

    ``ledger``: an event's budget ledger; the commit then adds the field ``spent``, that ledger's
    totals as the same commit leaves them (see :class:`shared.agents.guardrails.LedgerStamp`).
    """

    stream: str
    fields: Fields
    ledger: str | None = None


# What a run-record step leaves out; built once (a `{}` literal in the test builds a dict each
# time).
_BLANK: tuple[Any, ...] = (None, {}, "")


@dataclass(frozen=True)
class Step:
    """One stage attempt in an event's run record."""

    stage: str
    outcome: str
    started_at: float
    ended_at: float
    consumer: str = ""
    entry_id: str = ""
    delivery: int = 1
    attempt: int = 0
    llm_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    reason: str | None = None
    detail: str | None = None
    decision: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The step as its run record stores it: fields in declaration order, without empty
        ones (None, "" or {}; zeros stay), then ``duration_ms``."""
        fields = self.__dict__
        data = fields.copy()  # a C-level copy, then drop the few empty ones: cheaper than a filter
        for name, value in fields.items():
            if not value and value in _BLANK:  # `not value` spares the usual values the compares
                del data[name]
        if not data["llm_calls"]:
            del data["llm_calls"]  # most stages call no model: keep their steps short
        data["duration_ms"] = round((data["ended_at"] - data["started_at"]) * 1000, 3)
        return data


@dataclass(frozen=True)
class Charge:
    """An LLM call's real usage, settled in the event's budget ledger by the fenced commit
    (a call id is charged once, however often a redelivery repeats the call)."""

    call_id: str
    tokens: int
    micro_usd: int


@dataclass(frozen=True)
class Outcome:
    """The result of processing one entry.

    Attributes:
        event_id: the event this entry belongs to.
        publishes: stream entries to add, only if the input's acknowledgement takes effect.
        step: the run-record step describing this attempt.
        status: the event's run status after this step.
        reason: why the run ended (terminal statuses), e.g. ``low_confidence``.
        dedupe_key: an idempotency marker; if it already exists the entry is a duplicate and
            ``publishes`` are skipped.
        charges: the attempt's LLM calls to settle in the budget ledger with the commit.
    """

    event_id: str
    publishes: list[Publish]
    step: Step
    status: RunStatus = "in_progress"
    reason: str | None = None
    dedupe_key: str | None = None
    created_at: float | None = None
    charges: tuple[Charge, ...] = ()


def evolve(instance: D, **changes: Any) -> D:
    """A copy of a frozen dataclass with ``changes``, like :func:`dataclasses.replace` but
    without re-running ``__init__`` field by field (the runtime stamps every committed entry).

    Only for dataclasses whose ``__init__`` does no more than assign (no ``__post_init__``).
    """
    copy = object.__new__(type(instance))
    copy.__dict__.update(instance.__dict__, **changes)
    return copy
