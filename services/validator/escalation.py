"""The escalation packet: everything an operator needs to take over an event."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shared.agents.guardrails import Spend
from shared.pipeline.envelope import Envelope, Fields
from shared.runtime.jsonbytes import compact_json

SUGGESTED_ACTIONS = {
    "prompt_injection_suspected": "Review the request for abuse; reply manually if legitimate.",
    "sensitive_topic": "Route to the specialist team for this category.",
    "human_requested": "Contact the customer directly.",
    "low_confidence": "Classify the request and send the drafted or a manual reply.",
    "agent_escalated": "Read the triage reasons and handle the request manually.",
    "repeated_clarification": "The agents struggled with this request; answer it manually.",
    "budget_exceeded": "The LLM budget ran out; finish the reply from the partial results.",
    "deadline_exceeded": "The event ran past its deadline; answer it manually now.",
    "invalid_agent_output": "An agent's output kept failing its contract; answer it manually "
    "from what the earlier stages found.",
}


def escalation_fields(
    envelope: Envelope,
    reason: str,
    results: dict[str, Any],
    *,
    spent: Spend | None = None,
    detail: str | None = None,
    summarise: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Fields:
    """The escalations entry: the packet (what the pipeline's ``summarise`` shows of the results,
    then what every packet has) and the envelope, so that an operator can take over."""
    packet = {
        "event_id": envelope.event_id,
        "reason": reason,
        **(summarise(results) if summarise else {}),
        "tried": sorted(results),
        "results": results,
        "detail": detail,
        "clarifications": envelope.clarifications,
        "feedback": envelope.feedback,
        "spent": {"tokens": spent.tokens, "usd": spent.usd} if spent else None,
        "suggested_action": SUGGESTED_ACTIONS.get(reason, "Handle the request manually."),
        "escalated_at": time.time(),
    }
    fields: Fields = {
        b"event_id": envelope.event_id.encode(),
        b"reason": reason.encode(),
        b"packet": compact_json(packet),
        b"envelope": envelope.to_fields()[b"envelope"],
    }
    if envelope.traceparent:
        fields[b"traceparent"] = envelope.traceparent.encode()
    return fields
