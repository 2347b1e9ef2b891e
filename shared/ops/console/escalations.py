"""The escalations inbox: open escalations oldest first, one packet, and its resolution.

A resolution goes through :mod:`shared.ops.resolve`, as ``baton escalations resolve`` does: the same
checks on the reply, one fenced commit publishing one response and closing the run record, so
two operators resolving one escalation at once publish one response; the second is told.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from shared.errors import BatonError
from shared.ops import resolve as resolution
from shared.ops.console import audit, paging
from shared.ops.console.auth import Session
from shared.ops.console.web import (
    change_form,
    entry_at,
    number,
    redirect,
    render,
    session_of,
    state,
)
from shared.ops.inbox import InboxEntry
from shared.runtime.runrecord import load_run

FILTERS = ("reason", "category", "priority", "older_than_min", "younger_than_min")


def _keep(query: dict[str, str]) -> paging.Keep:
    reason, category, priority = query.get("reason"), query.get("category"), query.get("priority")

    def keep(entry: InboxEntry) -> bool:
        classification = entry.packet.get("classification") or {}
        return (
            (not reason or entry.reason == reason)
            and (not category or classification.get("category") == category)
            and (not priority or classification.get("priority") == priority)
        )

    return keep


async def list_page(request: Request) -> Response:
    session = session_of(request)
    console = state(request)
    redis = console.redis(session)
    query = {k: request.query_params.get(k, "").strip() for k in FILTERS}
    older = number(query["older_than_min"], "older than (minutes)")
    younger = number(query["younger_than_min"], "younger than (minutes)")
    after = request.query_params.get("after")
    if after and not paging.valid_id(after):
        raise BatonError(f"not a page cursor: {after[:40]!r}")
    bounds = paging.Bounds(
        after=after,
        older_than_s=older * 60 if older is not None else None,
        younger_than_s=younger * 60 if younger is not None else None,
    )
    stream = console.keys.escalations
    found = await paging.page(
        redis,
        stream,
        bounds,
        size=console.settings.page_size,
        budget=console.settings.scan_budget,
        open_only=True,
        keep=_keep(query),
    )
    return render(
        request,
        "escalations.html",
        {
            "page": found,
            "rows": [_row(e) for e in found.entries],
            "query": query,
            "open_total": await paging.open_count(redis, stream),
            "resolved": request.query_params.get("resolved"),
        },
        session=session,
    )


def _row(entry: InboxEntry) -> dict[str, Any]:
    classification = entry.packet.get("classification") or {}
    return {
        "entry": entry,
        "category": classification.get("category", "-"),
        "priority": classification.get("priority", "-"),
        "summary": entry.packet.get("summary") or "",
    }


async def detail_page(request: Request) -> Response:
    session = session_of(request)
    entry = await _entry(request, session.can_change)
    return await _detail(request, entry, session, reply=entry.packet.get("draft") or "")


async def _entry(request: Request, as_operator: bool) -> InboxEntry:
    keys = state(request).keys
    return await entry_at(request, keys.escalations, "escalation", as_operator=as_operator)


async def _detail(
    request: Request,
    entry: InboxEntry,
    session: Session,
    *,
    reply: str,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    console = state(request)
    run = await load_run(console.redis(session), console.keys, entry.event_id)
    return render(
        request,
        "escalation.html",
        {
            "entry": entry,
            "packet": entry.packet,
            "row": _row(entry),
            "reply": reply,
            "error": error,
            "resolver": _resolver(run),
            "run": run,
        },
        status_code=status_code,
        session=session,
    )


def _resolver(run: dict[str, Any] | None) -> str | None:
    """Who resolved the event, from its run record's last operator step."""
    for step in reversed((run or {}).get("steps", [])):
        if step.get("stage") == "operator" and step.get("outcome") == "resolved":
            return str(step.get("decision", {}).get("by") or "an operator (CLI)")
    return None


async def resolve(request: Request) -> Response:
    """Approve the draft or send an operator's reply (checked), exactly once."""
    session, form = await change_form(request)
    console = state(request)
    entry = await _entry(request, True)
    action = str(form.get("action", ""))
    text = str(form.get("reply", "")).strip()
    if action not in ("approve", "reply"):
        raise BatonError("choose: approve the draft, or send the reply")
    if entry.resolved:
        return await _already(request, entry, session, text)
    try:
        if action == "approve":
            text = resolution.drafted_reply(entry)
        if not text:
            raise BatonError("the reply is empty: write one, or approve the draft")
        final = resolution.final_response(entry, text)
    except BatonError as exc:
        return await _detail(request, entry, session, reply=text, error=exc.detail, status_code=400)
    redis = console.operator_redis
    await paging.take(redis, console.keys.escalations, entry.entry_id)
    done = await resolution.resolve(
        redis, console.keys, entry, final, console.base.run_retention_s, by=session.user
    )
    if not done:
        return await _already(request, entry, session, text)
    detail = "approved the draft" if action == "approve" else "wrote the reply"
    await audit.record(redis, console.keys, session.user, "resolve", entry.event_id, detail)
    return redirect("/escalations", resolved=entry.event_id)


async def _already(request: Request, entry: InboxEntry, session: Session, text: str) -> Response:
    fresh = await _entry(request, True)
    run = await load_run(state(request).operator_redis, state(request).keys, entry.event_id)
    who = _resolver(run) or "someone else"
    message = f"Already resolved by {who}: nothing was sent, the customer has one reply."
    return await _detail(request, fresh, session, reply=text, error=message, status_code=409)
