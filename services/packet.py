"""What an escalation packet shows of the reference pipeline's results, for the operator."""

from __future__ import annotations

from collections import Counter
from typing import Any


def panel(results: dict[str, Any]) -> dict[str, Any] | None:
    """The review panel's opinions and their agreement, when the event went to the panel."""
    joined = results.get("panel")
    if not joined:
        return None
    opinions = [o for o in joined.get("branches", []) if o is not None]
    votes = Counter((o.get("category"), o.get("escalate")) for o in opinions)
    share = votes.most_common(1)[0][1] / len(opinions) if opinions else 0.0
    return {"opinions": joined.get("branches", []), "agreement": round(share, 4),
            "missing": joined.get("missing", [])}  # fmt: skip


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """The request, triage's reading of it and the draft, from whichever stages ran."""
    intake = results.get("intake", {})
    triage = results.get("triage", {})
    reviewed = panel(results)
    return {
        **({"panel": reviewed} if reviewed else {}),
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
