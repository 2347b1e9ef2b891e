"""Dead letters: browse and filter, the raw entry byte for byte, edit, replay and purge.

Replays go through :func:`shared.ops.replay.replay_one`, the CLI's exactly-once path (re-validated
against the current contracts, one fenced commit that re-publishes and resolves the dead letter).
An edit changes what is replayed (the raw payload, or the agent input or payload of the
envelope) and is re-validated the same way before anything is published.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from services.pipeline import PIPELINE
from shared.errors import BatonError
from shared.ops import replay
from shared.ops.console import audit, paging
from shared.ops.console.auth import Session
from shared.ops.console.web import (
    ConsoleState,
    change_form,
    entry_at,
    number,
    redirect,
    render,
    session_of,
    state,
)
from shared.ops.inbox import Inbox, InboxEntry, purge
from shared.pipeline import VALIDATOR
from shared.runtime.delivery import as_text

FILTERS = ("stage", "reason", "older_than_min", "younger_than_min", "all")
BULK_CAP = 500  # entries one bulk request changes at most; run it again for more


def bounds_and_keep(query: dict[str, str], after: str | None) -> tuple[paging.Bounds, paging.Keep]:
    older = number(query.get("older_than_min"), "older than (minutes)")
    younger = number(query.get("younger_than_min"), "younger than (minutes)")
    if after and not paging.valid_id(after):
        raise BatonError(f"not a page cursor: {after[:40]!r}")
    bounds = paging.Bounds(
        after=after,
        older_than_s=older * 60 if older is not None else None,
        younger_than_s=younger * 60 if younger is not None else None,
    )
    stage, reason = query.get("stage") or None, query.get("reason") or None

    def keep(entry: InboxEntry) -> bool:
        return replay.matches(entry, stage=stage, reason=reason)

    return bounds, keep


async def list_page(request: Request) -> Response:
    session = session_of(request)
    console = state(request)
    redis = console.redis(session)
    query = {k: request.query_params.get(k, "").strip() for k in FILTERS}
    bounds, keep = bounds_and_keep(query, request.query_params.get("after"))
    found = await paging.page(
        redis,
        console.keys.dlq,
        bounds,
        size=console.settings.page_size,
        budget=console.settings.scan_budget,
        open_only=not query["all"],
        keep=keep,
    )
    return render(
        request,
        "deadletters.html",
        {
            "page": found,
            "rows": [replay.describe(e) | {"resolved": e.resolved} for e in found.entries],
            "query": query,
            "open_total": await paging.open_count(redis, console.keys.dlq),
            "notice": request.query_params.get("notice"),
        },
        session=session,
    )


def editable(entry: InboxEntry) -> tuple[str, str]:
    """What an operator may edit before a replay, and its JSON text."""
    fields = entry.fields
    if b"envelope" not in fields:
        raw = fields.get(b"payload", b"")
        try:
            return "payload", _json(orjson.loads(raw))
        except orjson.JSONDecodeError:
            return "payload", as_text(raw)
    envelope = orjson.loads(fields[b"envelope"])
    part = _edited_part(entry, envelope)
    return part, _json(envelope.get(part))


def with_edit(entry: InboxEntry, text: str) -> InboxEntry:
    """``entry`` with the edited document in place (the stream itself is never rewritten)."""
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BatonError(f"the edit is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BatonError("the edit must be a JSON object")
    fields = dict(entry.fields)
    if b"envelope" not in fields:
        fields[b"payload"] = orjson.dumps(document)
    else:
        envelope = orjson.loads(fields[b"envelope"])
        envelope[_edited_part(entry, envelope)] = document
        fields[b"envelope"] = orjson.dumps(envelope)
    return dataclasses.replace(entry, fields=fields)


def _edited_part(entry: InboxEntry, envelope: dict[str, Any]) -> str:
    """A rejected agent output is replayed from the agent's input (see replay.plan_replay)."""
    stage = as_text(entry.fields.get(b"stage", b""))
    agent = str(envelope.get("stage", ""))
    if stage == VALIDATOR and PIPELINE.is_agent(agent) and envelope.get("input") is not None:
        return "input"
    return "payload"


def _json(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


async def detail_page(request: Request) -> Response:
    session = session_of(request)
    entry = await _entry(request, session.can_change)
    part, text = editable(entry)
    return _detail(request, entry, session, part=part, text=text)


def _detail(
    request: Request,
    entry: InboxEntry,
    session: Session,
    *,
    part: str,
    text: str,
    error: str | None = None,
    preview: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    raw = [
        {
            "name": as_text(name),
            "bytes": len(value),
            "text": value.decode("utf-8", "backslashreplace"),
        }
        for name, value in entry.fields.items()
    ]
    context = {"entry": entry, "row": replay.describe(entry), "raw": raw, "part": part}
    context |= {"text": text, "error": error, "preview": preview, "trace_id": _trace_id(entry)}
    return render(request, "deadletter.html", context, status_code=status_code, session=session)


def _trace_id(entry: InboxEntry) -> str | None:
    parts = as_text(entry.fields.get(b"traceparent", b"")).split("-")
    return parts[1] if len(parts) == 4 else None


async def _entry(request: Request, as_operator: bool) -> InboxEntry:
    return await entry_at(request, state(request).keys.dlq, "dead letter", as_operator=as_operator)


async def replay_edited(request: Request) -> Response:
    """Preview or replay one dead letter, as it is or as edited."""
    session, form = await change_form(request)
    console = state(request)
    original = await _entry(request, True)
    part, text = editable(original)
    edited = "text" in form and str(form["text"]).strip() != text.strip()
    text = str(form.get("text", text))
    try:
        entry = with_edit(original, text) if edited else original
    except BatonError as exc:
        return _detail(
            request, original, session, part=part, text=text, error=exc.detail, status_code=400
        )
    dry_run = form.get("dry_run") != "0"
    row = await _replay(console, entry, dry_run, session.user)
    if row["result"] == "invalid":
        message = f"still invalid, nothing was replayed: {row['note']}"
        return _detail(
            request, original, session, part=part, text=text, error=message, status_code=400
        )
    if dry_run or row["result"] == "skipped":
        return _detail(request, original, session, part=part, text=text, preview=row)
    action = "edit+replay" if edited else "replay"
    await audit.record(
        console.operator_redis, console.keys, session.user, action, entry.event_id, row["note"]
    )
    return redirect("/dlq", notice=f"replayed {entry.event_id}: {row['note']}")


async def _replay(
    console: ConsoleState, entry: InboxEntry, dry_run: bool, by: str
) -> dict[str, Any]:
    if entry.resolved:
        note = "already replayed or resolved"
        return {"entry_id": entry.entry_id, "event_id": entry.event_id, "result": "skipped",
                "note": note}  # fmt: skip
    redis = console.operator_redis
    if not dry_run:
        await paging.take(redis, console.keys.dlq, entry.entry_id)
    return await replay.replay_one(
        Inbox(redis, console.keys, console.keys.dlq),
        console.keys,
        PIPELINE,
        entry,
        max_bytes=console.base.max_payload_bytes,
        retention_s=console.base.run_retention_s,
        tracing=console.tracing,
        dry_run=dry_run,
        by=by,
    )


async def chosen(console: ConsoleState, form: FormData) -> list[InboxEntry]:
    """The dead letters a bulk form names: ticked ids, or every open one its filter matches."""
    redis = console.operator_redis
    if form.get("scope") == "filter":
        query = {k: str(form.get(k, "")).strip() for k in FILTERS}
        bounds, keep = bounds_and_keep(query, None)
        found = await paging.page(
            redis, console.keys.dlq, bounds, size=BULK_CAP, budget=10**9, open_only=True, keep=keep
        )
        return found.entries
    ids = [str(i) for i in form.getlist("ids")][:BULK_CAP]
    if not ids:
        raise BatonError("tick some dead letters, or use the filter")
    entries = [await paging.get(redis, console.keys.dlq, i) for i in ids]
    return [e for e in entries if e is not None]


async def bulk_replay(request: Request) -> Response:
    session, form = await change_form(request)
    console = state(request)
    dry_run = form.get("dry_run") != "0"  # a preview unless asked plainly
    rows = [await _replay(console, e, dry_run, session.user) for e in await chosen(console, form)]
    done = [r for r in rows if r["result"] == "replayed"]
    if done:
        await audit.record(
            console.operator_redis,
            console.keys,
            session.user,
            "replay",
            f"{len(done)} dead letter(s)",
            " ".join(r["event_id"] for r in done)[:500],
        )
    context = {"rows": rows, "dry_run": dry_run, "form": _carried(form), "action": "replay"}
    return render(request, "bulk.html", context, session=session)


async def bulk_purge(request: Request) -> Response:
    session, form = await change_form(request)
    console = state(request)
    entries = await chosen(console, form)
    if form.get("confirm") != "yes":
        rows = [replay.describe(e) | {"result": "would delete", "note": ""} for e in entries]
        context = {"rows": rows, "dry_run": True, "form": _carried(form), "action": "purge"}
        return render(request, "bulk.html", context, session=session)
    if entries:
        await purge(console.operator_redis, console.keys.dlq, [e.entry_id for e in entries])
        await audit.record(
            console.operator_redis,
            console.keys,
            session.user,
            "purge",
            f"{len(entries)} dead letter(s)",
            " ".join(e.entry_id for e in entries)[:500],
        )
    return redirect("/dlq", notice=f"purged {len(entries)} dead letter(s)")


def _carried(form: FormData) -> list[tuple[str, str]]:
    """The form's choices, to carry from a preview to its confirmation."""
    keep = ("scope", "ids", *FILTERS)
    return [(k, str(v)) for k, v in form.multi_items() if k in keep]
