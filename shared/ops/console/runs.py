"""An event's run record as a timeline: stages, branches, timing, deliveries, tokens, cost,
decisions and validator findings, with a link to its trace in Jaeger when one is configured."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response

from services.pipeline import PIPELINE
from shared.ops.console.web import redirect, render, session_of, state
from shared.runtime.runrecord import load_run


async def find(request: Request) -> Response:
    """The search box: go to the run of the event id typed in."""
    session = session_of(request)
    event_id = request.query_params.get("event_id", "").strip()
    if not event_id:
        return render(request, "run.html", {"record": None, "event_id": ""}, session=session)
    return redirect("/runs/" + quote(event_id, safe=""))


async def show(request: Request) -> Response:
    session = session_of(request)
    console = state(request)
    event_id = request.path_params["event_id"]
    record = await load_run(console.redis(session), console.keys, event_id)
    context: dict[str, Any] = {"record": record, "event_id": event_id}
    if record is not None:
        context |= timeline(record)
        context["trace_url"] = trace_search_url(console.settings.jaeger_url, event_id)
    return render(request, "run.html", context, status_code=200 if record else 404,
                  session=session)  # fmt: skip


def timeline(record: dict[str, Any]) -> dict[str, Any]:
    """Rows for the template, and the totals."""
    steps = record.get("steps", [])
    first = min((s.get("started_at", 0.0) for s in steps), default=0.0)
    rows = []
    for step in steps:
        decision = dict(step.get("decision") or {})
        findings = decision.pop("problems", None)
        rows.append(
            {
                "at": datetime.fromtimestamp(step["started_at"], UTC).strftime("%H:%M:%S.%f")[:-3],
                "offset_ms": round((step["started_at"] - first) * 1000, 1),
                "stage": step.get("stage", "?"),
                "branch": decision.pop("branch", None),
                "outcome": step.get("outcome", "?"),
                "ms": step.get("duration_ms", 0),
                "delivery": step.get("delivery", 1),
                "attempt": step.get("attempt", 0),
                "tokens": step.get("tokens_in", 0) + step.get("tokens_out", 0),
                "cost": step.get("cost_usd", 0.0),
                "reason": step.get("reason"),
                "detail": step.get("detail"),
                "decision": decision,
                "findings": findings,
                "agent": PIPELINE.is_agent(step.get("stage", "")),
            }
        )
    return {
        "rows": rows,
        "tokens": sum(r["tokens"] for r in rows),
        "cost": sum(r["cost"] for r in rows),
        "created": _stamp(record.get("created_at")),
        "updated": _stamp(record.get("updated_at")),
    }


def trace_search_url(jaeger_url: str | None, event_id: str) -> str | None:
    """Jaeger's search for the spans tagged with this event id (every Baton span is)."""
    if not jaeger_url:
        return None
    tags = json.dumps({"baton.event_id": event_id})
    query = urlencode({"service": PIPELINE.entry.name, "tags": tags, "lookback": "7d"})
    return f"{jaeger_url.rstrip('/')}/search?{query}"


def _stamp(value: object) -> str:
    if not isinstance(value, float):
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
