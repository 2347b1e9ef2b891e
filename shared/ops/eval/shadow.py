"""Shadow replay: re-feed recorded traffic through the pipeline as it is configured now, and say
where its decisions differ from what the live pipeline decided.

The payloads recorded in the live ``<prefix>:intake`` stream (from ``--since`` to ``--until``) are
posted under a fresh prefix on the same Redis, each with its original event id (one the live
pipeline derived from the entry id is written into the payload), so nothing reaches the live
streams, groups or run records: on the live side this only reads (XRANGE, HGETALL, LRANGE).
Each event's new decisions (final status and reason, triage's category, priority and route, the
reply's mode) are compared with the live run record of the same event id.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterable
from contextlib import aclosing, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from services.pipeline import PIPELINE
from shared.errors import BatonError, ContractError
from shared.ops.cli.duration import parse_duration
from shared.ops.eval import metrics
from shared.ops.eval.collect import (
    NO_RECORD,
    Decisions,
    Observed,
    collect,
    read_entries,
    submitted_event_id,
)
from shared.ops.eval.report import run_section
from shared.ops.eval.session import Progress, RunOptions, RunResult, run_payloads
from shared.ops.eval.trajectory import trajectory
from shared.pipeline.keys import Keys
from shared.pipeline.settings import BatonSettings, load_settings
from shared.pipeline.submission import decode_submission
from shared.runtime.redis_client import connect_for

KIND = "baton-shadow"
COMPARED = ("status", "reason", "category", "priority", "route", "mode")
_AGE = re.compile(r"^[\d.]+\s*[a-z]")
_STREAM_ID = re.compile(r"^\d+(-\d+)?$")


class ShadowError(BatonError):
    reason = "bad_replay"


@dataclass(frozen=True)
class Window:
    """Which recorded entries to replay: stream ids (or bounds) and at most ``limit`` of them."""

    since: str
    until: str = "+"
    limit: int = 1000


def stream_bound(text: str, now: float | None = None) -> str:
    """A stream id bound from a stream id (``1718000000000-0``), a relative age (``30m``,
    ``2h``, ``1d``) or an ISO time (UTC unless it names an offset)."""
    text = text.strip()
    if _STREAM_ID.match(text) or text in ("-", "+"):
        return text
    if _AGE.match(text):
        with suppress(ValueError):  # not an age: then it must be a time
            seconds = parse_duration(text)  # the duration syntax of every option
            return str(int(((now or time.time()) - seconds) * 1000))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ShadowError(
            f"{text!r} is not a stream id, an age like 30m or 2h, or an ISO time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return str(int(moment.timestamp() * 1000))


async def shadow_replay(
    url: str,
    source_prefix: str,
    window: Window,
    options: RunOptions,
    *,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Replay the recorded window of ``<source_prefix>:intake``; the report of differences."""
    source = Keys(source_prefix)
    config = load_settings(BatonSettings, redis_url=url)
    live = connect_for(config, max_connections=8)
    try:
        recorded = await _recorded(live, source, window)
        if not recorded:
            raise ShadowError(
                f"nothing recorded in {source.stream(PIPELINE.entry_stream)} in that window"
            )
        originals, payloads = [], []
        for entry_id, payload in recorded:
            original, posted = replay_payload(payload, entry_id, config.max_payload_bytes)
            originals.append(original)
            payloads.append(posted)
        run = await run_payloads(url, payloads, options, kind="shadow", on_progress=on_progress)
        pairs = dict(zip(originals, run.event_ids, strict=True))
        first_entry = recorded[0][0]
        before = await collect(live, source, pairs, since=first_entry)
    finally:
        await live.aclose()
    return build(source_prefix, window, recorded, run, pairs, before)


async def _recorded(redis: Redis, keys: Keys, window: Window) -> list[tuple[str, bytes]]:
    """(entry id, payload) of the recorded entries, oldest first; entries with no payload (a
    malformed post) are skipped: there is nothing to re-feed."""
    found: list[tuple[str, bytes]] = []
    entries = read_entries(redis, keys.stream(PIPELINE.entry_stream), window.since, window.until)
    async with aclosing(entries):
        async for entry_id, fields in entries:
            if b"payload" in fields:
                found.append((entry_id, fields[b"payload"]))
                if len(found) >= window.limit:
                    break
    return found


def replay_payload(payload: bytes, entry_id: str, max_bytes: int) -> tuple[str, bytes]:
    """The event id the live pipeline gave this entry, and the payload to post in its place:
    the same bytes, with that id written in when the live pipeline derived it from the entry."""
    original = submitted_event_id(payload, entry_id, max_bytes)
    try:
        decode_submission({b"payload": payload}, entry_id, max_bytes)
    except ContractError:
        return original, payload  # replayed as it was, to fail as it did
    data = json.loads(payload)
    if "event_id" in data:
        return original, payload
    data["event_id"] = original
    return original, json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def build(
    source_prefix: str,
    window: Window,
    recorded: list[tuple[str, bytes]],
    run: RunResult,
    pairs: dict[str, str],
    before: dict[str, Observed],
) -> dict[str, Any]:
    events = [_event(old, before[old], run.observed[new]) for old, new in pairs.items()]
    verdicts = Counter(e["verdict"] for e in events)
    changes = Counter(f for e in events for f in e["changed"])
    both = [e for e in events if e["verdict"] in ("same", "differs")]
    return {
        "kind": KIND,
        "version": 1,
        "source": {
            "stream": Keys(source_prefix).stream(PIPELINE.entry_stream),
            "since": window.since,
            "until": window.until,
            "entries": len(recorded),
            "first_entry": recorded[0][0],
            "last_entry": recorded[-1][0],
        },
        "run": run_section(run),
        "summary": {
            "events": len(events),
            **{v: verdicts[v] for v in ("same", "differs", "no_record", "live_unfinished", "lost")},
        },
        "changes": {field: changes[field] for field in COMPARED},
        "process": {
            "live": _process(before[e["event_id"]] for e in both),
            "shadow": _process(run.observed[pairs[e["event_id"]]] for e in both),
        },
        "events": events,
        "ok": verdicts["lost"] == 0,
    }


def _event(event_id: str, live: Observed, shadow: Observed) -> dict[str, Any]:
    old, new = Decisions.of(live).__dict__, Decisions.of(shadow).__dict__
    changed = [f for f in COMPARED if old[f] != new[f]]
    if live.status == NO_RECORD:
        verdict = "no_record"
    elif not live.terminal:
        verdict = "live_unfinished"
    elif not shadow.terminal:
        verdict = "lost"
    else:
        verdict = "differs" if changed else "same"
    if verdict not in ("same", "differs"):
        changed = []
    return {
        "event_id": event_id,
        "verdict": verdict,
        "changed": changed,
        "live": {f: old[f] for f in COMPARED},
        "shadow": {f: new[f] for f in COMPARED},
    }


def _process(observed: Iterable[Observed]) -> dict[str, dict[str, float | None]]:
    return metrics.process([(trajectory(o.steps), o.latency_s) for o in observed])
