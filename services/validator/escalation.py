"""The escalation packet: everything an operator needs to take over an event."""

from __future__ import annotations

import time
from typing import Any

from shared.envelope import Envelope, Fields
from shared.guardrails import Spend
from shared.jsonbytes import compact_json

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
) -> Fields:
    intake = results.get("intake", {})
    triage = results.get("triage", {})
    packet = {
        "event_id": envelope.event_id,
        "reason": reason,
        "text": intake.get("text"),
        "summary": triage.get("summary") or intake.get("summary"),
        "draft": results.get("responder", {}).get("reply"),
        "language": intake.get("language"),
        "channel": intake.get("channel"),
        "classification": {k: triage[k] for k in ("category", "priority", "route") if k in triage},
        "scores": {
            "confidence": triage.get("confidence"),
            "injection_risk": intake.get("injection_risk"),
        },
        "signals": intake.get("injection_signals", []) + triage.get("reasons", []),
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
