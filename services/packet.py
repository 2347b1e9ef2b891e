"""What an escalation packet shows of the reference pipeline's results, for the operator."""

from __future__ import annotations

from typing import Any


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """The request, triage's reading of it and the draft, from whichever stages ran."""
    intake = results.get("intake", {})
    triage = results.get("triage", {})
    return {
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
    }
