"""Resolving an escalation: the operator's reply is checked like an agent's, then one fenced
commit publishes it to ``responses`` and closes the run record (the CLI and the console share it).
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from services.pipeline import PIPELINE
from shared.errors import BatonError
from shared.ops.inbox import Inbox, InboxEntry
from shared.pipeline.contracts import FinalResponse, ResponderResult
from shared.pipeline.keys import Keys
from shared.runtime.outcome import Outcome, Publish, Step


def drafted_reply(entry: InboxEntry) -> str:
    """The reply the pipeline drafted; a clear error when it drafted none."""
    draft = entry.packet.get("draft")
    if not draft:
        raise BatonError(f"{entry.event_id} has no drafted reply; write one")
    return str(draft)


def final_response(entry: InboxEntry, text: str) -> FinalResponse:
    """The operator's reply passes the same checks as an agent's (no personal data, no prompt
    text); :class:`BatonError` says what is wrong with it."""
    language = entry.packet.get("language") or "en"
    try:
        reply = ResponderResult(reply=text, language=language)
    except ValueError as exc:
        raise BatonError(f"reply rejected: {exc}".splitlines()[0]) from exc
    problems = PIPELINE.agent("responder").check(reply, PIPELINE.check_context())
    if problems:
        raise BatonError("reply rejected: " + "; ".join(problems))
    classification = entry.packet.get("classification", {})
    return FinalResponse(
        event_id=entry.event_id,
        reply=text,
        language=language,
        category=classification.get("category", "general"),
        priority=classification.get("priority", "normal"),
        mode="answer",
        summary=(entry.packet.get("summary") or "")[:500],
    )


def resolution_outcome(
    keys: Keys, entry: InboxEntry, final: FinalResponse, by: str | None = None
) -> Outcome:
    """The fenced writes of a resolution: one response and the run record's closing step
    (``by`` names the operator, when known)."""
    now = time.time()
    fields = {b"event_id": entry.event_id.encode(), b"response": final.model_dump_json().encode()}
    decision: dict[str, str] = {"escalation_reason": entry.reason}
    if by:
        decision["by"] = by
    step = Step(
        stage="operator",
        outcome="resolved",
        started_at=now,
        ended_at=now,
        entry_id=entry.entry_id,
        decision=decision,
    )
    return Outcome(
        event_id=entry.event_id,
        publishes=[Publish(keys.responses, fields)],
        step=step,
        status="responded",
        reason="resolved_by_operator",
    )


async def resolve(
    redis: Redis,
    keys: Keys,
    entry: InboxEntry,
    final: FinalResponse,
    retention_s: int,
    by: str | None = None,
) -> bool:
    """Publish ``final`` and close the run record at once; False if it was already resolved."""
    inbox = Inbox(redis, keys, keys.escalations)
    return await inbox.resolve(entry, resolution_outcome(keys, entry, final, by), retention_s)
