"""Running a suite: its cases through a fresh pipeline, each scored, one report."""

from __future__ import annotations

from typing import Any

import orjson

from shared.ops.eval import report
from shared.ops.eval.scoring import score
from shared.ops.eval.session import Progress, RunOptions, run_payloads
from shared.ops.eval.suite import Case, LoadedSuite, SuiteError


def select(cases: list[Case], tags: list[str], ids: list[str]) -> list[Case]:
    """The cases with any of ``tags`` or one of ``ids`` (all of them when both are empty)."""
    unknown = set(ids) - {c.id for c in cases}
    if unknown:
        raise SuiteError(f"no such case in the suite: {', '.join(sorted(unknown))}")
    if not tags and not ids:
        return cases
    chosen = [c for c in cases if c.id in ids or set(c.tags) & set(tags)]
    if not chosen:
        raise SuiteError(f"no case has the tag(s) {', '.join(tags)}")
    return chosen


async def run_suite(
    loaded: LoadedSuite,
    url: str,
    options: RunOptions,
    *,
    tags: list[str] | None = None,
    ids: list[str] | None = None,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the (selected) cases of ``loaded`` on the Redis at ``url``; the report."""
    cases = select(loaded.cases, tags or [], ids or [])
    payloads = [orjson.dumps(case.payload()) for case in cases]
    run = await run_payloads(url, payloads, options, on_progress=on_progress)
    results = [score(case, run.observed[case.id]) for case in cases]
    return report.build(loaded, run, results, selection(tags or [], ids or []))


def selection(tags: list[str], ids: list[str]) -> list[str]:
    """How a report names the ``--tag`` / ``--case`` filters it ran with (empty: all cases)."""
    return sorted({f"tag:{t}" for t in tags} | {f"case:{i}" for i in ids})
