"""Replaying dead letters: re-validate, re-publish at the failed stage, resolve, exactly once.

Each replay is one fenced commit on the operators' inbox over the dead-letter stream: the dead
letter is acknowledged (marked resolved) in the same step that re-publishes the event, so a replay
run twice, or killed midway and run again, re-publishes every entry exactly once.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from shared.errors import ContractError
from shared.observability.tracing import Tracing
from shared.ops.inbox import Inbox, InboxEntry
from shared.pipeline import VALIDATOR, Pipeline
from shared.pipeline.envelope import Envelope, Fields
from shared.pipeline.keys import Keys
from shared.pipeline.submission import decode_submission
from shared.runtime.delivery import as_text
from shared.runtime.outcome import Outcome, Publish, Step


@dataclass(frozen=True)
class ReplayPlan:
    """What replaying one dead letter would do: publish ``fields`` to ``stream``."""

    entry: InboxEntry
    stream: str
    fields: Fields
    note: str


def plan_replay(keys: Keys, pipeline: Pipeline, entry: InboxEntry, max_bytes: int) -> ReplayPlan:
    """Re-validate a dead letter against the current contracts and decide where it goes.

    Raises :class:`ContractError` when it still breaks them (nothing is published then).
    """
    fields = entry.fields
    source = as_text(fields.get(b"stream", b""))
    if b"envelope" not in fields:
        raw = fields.get(b"payload")
        if raw is None:
            raise ContractError("dead letter keeps no payload to replay (e.g. trimmed)")
        # The event keeps its id (and so its run record) even when the payload names none.
        submission = {b"payload": raw, b"event_id": entry.event_id.encode()}
        decode_submission(submission, entry.entry_id, max_bytes)
        entry_stream = keys.stream(pipeline.input_stream(pipeline.entry.name))
        return ReplayPlan(entry, entry_stream, submission, f"raw payload -> {pipeline.entry.name}")
    envelope = Envelope.from_fields({b"envelope": fields[b"envelope"]})
    stage = as_text(fields.get(b"stage", b""))
    if stage == VALIDATOR and pipeline.is_agent(envelope.stage) and envelope.input is not None:
        # The agent's output was rejected: ask the agent again, from its input, afresh.
        retry = envelope.next("operator", envelope.input, results=envelope.results)
        _check_input(pipeline, envelope.stage, retry)
        target = keys.stream(pipeline.input_stream(envelope.stage))
        return ReplayPlan(entry, target, retry.to_fields(), f"input -> {envelope.stage}")
    if pipeline.is_agent(stage):
        _check_input(pipeline, stage, envelope)
    return ReplayPlan(
        entry,
        source or keys.stream(pipeline.input_stream(stage)),
        envelope.to_fields(),
        f"envelope -> {stage}",
    )


def _check_input(pipeline: Pipeline, stage: str, envelope: Envelope) -> None:
    contract = pipeline.agent(stage).input
    try:
        contract.model_validate(envelope.payload)
    except ValueError as exc:
        raise ContractError(f"still breaks {contract.__name__}: {exc}".splitlines()[0]) from exc


def replay_outcome(plan: ReplayPlan, by: str | None = None) -> Outcome:
    """The fenced writes of a replay: the re-publish and a run-record step (``by``: the
    operator, when known)."""
    now = time.time()
    decision = {"dead_letter_reason": plan.entry.reason, "target": plan.stream}
    if by:
        decision["by"] = by
    step = Step(
        stage="operator",
        outcome="replayed",
        started_at=now,
        ended_at=now,
        entry_id=plan.entry.entry_id,
        decision=decision,
    )
    return Outcome(
        event_id=plan.entry.event_id,
        publishes=[Publish(plan.stream, plan.fields)],
        step=step,
        status="in_progress",
        reason="replayed",
    )


async def replay_one(
    inbox: Inbox,
    keys: Keys,
    pipeline: Pipeline,
    entry: InboxEntry,
    *,
    max_bytes: int,
    retention_s: int,
    tracing: Tracing,
    dry_run: bool = False,
    by: str | None = None,
) -> dict[str, Any]:
    """Replay one dead letter exactly once (or say what it would do): a row with ``result``
    ``invalid`` (still breaks its contract), ``would``, ``replayed`` or ``skipped`` (already
    replayed or resolved by someone else) and a ``note``."""
    row = {"entry_id": entry.entry_id, "event_id": entry.event_id}
    try:
        plan = plan_replay(keys, pipeline, entry, max_bytes)
    except ContractError as exc:
        return {**row, "result": "invalid", "note": exc.detail[:200]}
    if dry_run:
        return {**row, "result": "would", "note": f"{plan.note} ({plan.stream})"}
    traceparent = tracing.replay_context(
        plan.stream, entry.event_id, entry.fields.get(b"traceparent")
    )
    if traceparent:
        plan = dataclasses.replace(
            plan, fields={**plan.fields, b"traceparent": traceparent.encode()}
        )
    done = await inbox.resolve(entry, replay_outcome(plan, by), retention_s)
    return {**row, "result": "replayed" if done else "skipped", "note": plan.note}


def identifies(entry: InboxEntry, ident: str) -> bool:
    """True when ``ident`` names this dead letter: its own entry id, its event id, or the id of
    the entry it was (what XADD returned to the producer)."""
    original = as_text(entry.fields.get(b"entry_id", b""))
    return ident in (entry.entry_id, entry.event_id, original)


def matches(
    entry: InboxEntry,
    *,
    stage: str | None = None,
    reason: str | None = None,
    since_s: float | None = None,
    event: str | None = None,
) -> bool:
    fields = entry.fields
    return (
        (stage is None or as_text(fields.get(b"stage", b"")) == stage)
        and (reason is None or entry.reason == reason)
        and (since_s is None or entry.age_s <= since_s)
        and (event is None or entry.event_id == event)
    )


def describe(entry: InboxEntry) -> dict[str, Any]:
    fields = entry.fields
    return {
        "entry_id": entry.entry_id,
        "event_id": entry.event_id,
        "reason": entry.reason,
        "stage": as_text(fields.get(b"stage", b"")),
        "deliveries": int(fields.get(b"deliveries", b"0") or 0),
        "age_s": round(entry.age_s, 1),
        "detail": as_text(fields.get(b"detail", b""))[:300],
    }
