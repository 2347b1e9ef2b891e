"""The auditor: reads every terminal stream, every group and every run record of a pipeline and
checks the product's promises against the ledger of events the test posted.

Invariants (see the fault matrix in the reliability notes):

* **conservation**: every posted ``event_id`` ends exactly once in ``responses``, ``escalations``
  or ``dlq``: none lost, none in two places, none twice in one place;
* **no duplicate responses**: no ``event_id`` appears twice in ``responses``;
* **drain**: every group's pending list is empty and it has read its whole stream (lag 0);
* **run records agree**: each event's run record has the status of the stream it ended in.

It only reads; it never changes Redis.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from services.pipeline import PIPELINE
from shared.pipeline.keys import Keys
from shared.runtime.delivery import as_text
from tests.helpers import wait_for

StreamEntries = list[tuple[bytes, dict[bytes, bytes]]]
TERMINALS = ("responses", "escalations", "dlq")
STATUS_OF = {"responses": "responded", "escalations": "escalated", "dlq": "dead_lettered"}


@dataclass(frozen=True)
class GroupState:
    stream: str
    group: str
    pending: int
    lag: int | None
    consumers: int

    @property
    def drained(self) -> bool:
        return self.pending == 0 and self.lag == 0


@dataclass
class AuditReport:
    """What the auditor found. ``problems()`` is empty when every invariant holds."""

    posted: set[str]
    entries: dict[str, list[dict[str, bytes]]]
    """Terminal stream name (``responses``...) -> its entries, in stream order."""
    groups: list[GroupState]
    runs: dict[str, dict[str, str]] = field(default_factory=dict)
    """event_id -> run record hash (decoded); only for posted events."""
    steps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """event_id -> the run record's steps, in order."""

    def places(self) -> dict[str, Counter[str]]:
        """event_id -> how many times it appears in each terminal stream."""
        out: dict[str, Counter[str]] = {}
        for name, entries in self.entries.items():
            for entry in entries:
                event_id = as_text(entry.get("event_id", b"?"))
                out.setdefault(event_id, Counter())[name] += 1
        return out

    @property
    def lost(self) -> list[str]:
        places = self.places()
        return sorted(e for e in self.posted if e not in places)

    @property
    def duplicated(self) -> list[str]:
        """Events that ended more than once (in one stream or across several)."""
        return sorted(e for e, c in self.places().items() if sum(c.values()) > 1)

    @property
    def duplicate_responses(self) -> list[str]:
        return sorted(e for e, c in self.places().items() if c["responses"] > 1)

    @property
    def unexpected(self) -> list[str]:
        """Terminal entries for event ids the test never posted."""
        return sorted(e for e in self.places() if e not in self.posted)

    @property
    def undrained(self) -> list[GroupState]:
        return [g for g in self.groups if not g.drained]

    def run_mismatches(self) -> list[str]:
        out = []
        for event_id, counter in self.places().items():
            if event_id not in self.posted or sum(counter.values()) != 1:
                continue
            (stream,) = counter
            status = self.runs.get(event_id, {}).get("status")
            if status != STATUS_OF[stream]:
                out.append(f"{event_id}: ended in {stream} but run status is {status}")
        return sorted(out)

    def double_commits(self) -> list[str]:
        """Input entries committed twice by one stage (each entry's step is written once, in
        the fenced commit that acknowledges it; a second one means the fence let a zombie by)."""
        out = []
        for event_id, steps in self.steps.items():
            seen = Counter((s.get("stage"), s.get("entry_id")) for s in steps)
            out += [f"{event_id}: {stage} {entry} x{n}" for (stage, entry), n in seen.items()
                    if n > 1]  # fmt: skip
        return sorted(out)

    def redelivered_steps(self) -> int:
        """Committed steps whose input had been delivered more than once (reclaimed or retried)."""
        return sum(1 for steps in self.steps.values() for s in steps if s.get("delivery", 1) > 1)

    def max_delivery(self) -> int:
        return max((s.get("delivery", 1) for st in self.steps.values() for s in st), default=0)

    def count(self, stream: str) -> int:
        return len(self.entries[stream])

    def problems(self) -> list[str]:
        problems = []
        if self.lost:
            problems.append(f"{len(self.lost)} lost: {self.lost[:10]}")
        if self.duplicated:
            detail = {e: dict(self.places()[e]) for e in self.duplicated[:10]}
            problems.append(f"{len(self.duplicated)} ended more than once: {detail}")
        if self.unexpected:
            problems.append(f"{len(self.unexpected)} unexpected ids: {self.unexpected[:10]}")
        for group in self.undrained:
            problems.append(
                f"group {group.group} on {group.stream}: pending={group.pending} lag={group.lag}"
            )
        doubles = self.double_commits()
        if doubles:
            problems.append(f"{len(doubles)} entries committed twice: {doubles[:5]}")
        mismatches = self.run_mismatches()
        if mismatches:
            problems.append(f"{len(mismatches)} run records disagree: {mismatches[:5]}")
        return problems

    @property
    def ok(self) -> bool:
        return not self.problems()

    def assert_ok(self) -> None:
        problems = self.problems()
        assert not problems, "audit failed:\n  " + "\n  ".join(problems)

    def figures(self) -> dict[str, Any]:
        return {
            "events": len(self.posted),
            "responses": self.count("responses"),
            "escalations": self.count("escalations"),
            "dead_letters": self.count("dlq"),
            "lost": len(self.lost),
            "duplicates": len(self.duplicated),
            "duplicate_responses": len(self.duplicate_responses),
            "unexpected": len(self.unexpected),
            "pending": sum(g.pending for g in self.groups),
            "redelivered_steps": self.redelivered_steps(),
            "max_delivery": self.max_delivery(),
        }


async def read_stream(redis: Redis, stream: str, chunk: int = 1000) -> list[dict[str, bytes]]:
    """Every entry of ``stream`` (fields keyed by text), read in chunks with XRANGE."""
    out: list[dict[str, bytes]] = []
    start = "-"
    while True:
        batch = cast(StreamEntries, await redis.xrange(stream, min=start, max="+", count=chunk))
        for entry_id, fields in batch:
            out.append({"_id": entry_id, **{as_text(k): v for k, v in fields.items()}})
        if len(batch) < chunk:
            return out
        start = "(" + as_text(batch[-1][0])


async def group_states(redis: Redis, keys: Keys) -> list[GroupState]:
    """The consumer group of every service on its input stream (missing groups count as lag)."""
    states = []
    for service in PIPELINE.services:
        stream = keys.stream(PIPELINE.input_stream(service))
        length = await redis.xlen(stream)
        groups = await redis.xinfo_groups(stream) if await redis.exists(stream) else []
        info = next((g for g in groups if as_text(g["name"]) == service), None)
        if info is None:
            states.append(GroupState(stream, service, 0, length, 0))
            continue
        lag = info.get("lag")
        if lag is None:  # Redis cannot tell (e.g. after deletions): compare last ids instead
            last = cast(StreamEntries, await redis.xrevrange(stream, count=1))
            caught_up = not last or as_text(info["last-delivered-id"]) >= as_text(last[0][0])
            lag = 0 if caught_up else -1
        states.append(
            GroupState(stream, service, int(info["pending"]), int(lag), int(info["consumers"]))
        )
    return states


async def read_runs(
    redis: Redis, keys: Keys, event_ids: Iterable[str]
) -> tuple[dict[str, dict[str, str]], dict[str, list[dict[str, Any]]]]:
    """The run records (hash and steps) of ``event_ids``."""
    ids = list(event_ids)
    headers: dict[str, dict[str, str]] = {}
    steps: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        async with redis.pipeline(transaction=False) as pipe:
            for event_id in chunk:
                pipe.hgetall(keys.run(event_id))
                pipe.lrange(keys.run_steps(event_id), 0, -1)
            replies = await pipe.execute()
        for n, event_id in enumerate(chunk):
            header, raw_steps = replies[2 * n], replies[2 * n + 1]
            headers[event_id] = {as_text(k): as_text(v) for k, v in header.items()}
            steps[event_id] = [orjson.loads(s) for s in raw_steps]
    return headers, steps


async def audit(redis: Redis, keys: Keys, posted: Iterable[str]) -> AuditReport:
    """Read everything once and return the report (call ``assert_ok`` on it)."""
    posted_ids = set(posted)
    entries = {name: await read_stream(redis, keys.stream(name)) for name in TERMINALS}
    groups = await group_states(redis, keys)
    runs, steps = await read_runs(redis, keys, sorted(posted_ids))
    return AuditReport(posted_ids, entries, groups, runs, steps)


async def finished(redis: Redis, keys: Keys) -> int:
    total = 0
    for name in TERMINALS:
        total += await redis.xlen(keys.stream(name))
    return total


async def progressed(redis: Redis, keys: Keys, by: int, timeout: float = 60.0) -> None:
    """Wait until ``by`` more events have ended than now (the pipeline is really moving)."""
    target = await finished(redis, keys) + by

    async def moved() -> bool:
        return await finished(redis, keys) >= target

    await wait_for(moved, timeout=timeout, interval=0.1)


async def settled(
    redis: Redis, keys: Keys, posted: Iterable[str], *, timeout: float = 120.0
) -> AuditReport:
    """Wait until every posted event has ended and every group has drained; return the audit.

    On timeout it fails with what the auditor found so far.
    """
    posted_ids = set(posted)

    async def done() -> bool:
        total = 0
        for name in TERMINALS:
            total += await redis.xlen(keys.stream(name))
        if total < len(posted_ids):
            return False
        return all(g.drained for g in await group_states(redis, keys))

    try:
        await wait_for(done, timeout=timeout, interval=0.2)
    except AssertionError:
        report = await audit(redis, keys, posted_ids)
        raise AssertionError(
            f"pipeline did not settle within {timeout}s: {report.figures()}\n  "
            + "\n  ".join(report.problems())
        ) from None
    return await audit(redis, keys, posted_ids)


def publish_figures(name: str, figures: dict[str, Any], directory: Path) -> Path:
    """Print ``figures`` (shown by ``pytest -s``) and write them to ``<directory>/<name>.json``."""
    path = directory / f"{name}.json"
    path.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    print(f"\n[{name}] " + " ".join(f"{k}={v}" for k, v in figures.items()) + f"\n  -> {path}")
    return path
