"""The auditor's look at joins: every join opened closed exactly once, one merge per join, no
join left open, and the figures (branches, joins completed / partial, late branches).

A join is known by the validator step that opened it (``fanned_out``, with its ``join_id`` and
``branches``); its closing is its ``join_ready`` entry on handoffs; its merge is the validator
step that acknowledged that entry (its decision names the ``join_id`` and is not ``fanned_out``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from shared.pipeline.keys import Keys
from shared.runtime.delivery import as_text
from shared.runtime.join import JoinState, load_join, ready_join


@dataclass
class JoinAudit:
    opened: dict[str, int] = field(default_factory=dict)
    """join id -> branches expected."""
    ready: Counter[str] = field(default_factory=Counter)
    """join id -> join_ready entries published."""
    merged: Counter[str] = field(default_factory=Counter)
    """join id -> merge steps committed."""
    states: dict[str, JoinState | None] = field(default_factory=dict)
    branch_dead_letters: int = 0

    def problems(self) -> list[str]:
        out = []
        for join in sorted(self.opened):
            state = self.states.get(join)
            if state is None or not state.closed:
                out.append(f"join {join} never closed ({state.status if state else 'gone'})")
            if self.ready[join] != 1:
                out.append(f"join {join} closed {self.ready[join]} times")
            if self.merged[join] != 1:
                out.append(f"join {join} merged {self.merged[join]} times")
        out += [f"join {j} closed but never opened" for j in self.ready if j not in self.opened]
        return out

    def figures(self) -> dict[str, Any]:
        closed = [s for s in self.states.values() if s is not None]
        return {
            "joins": len(self.opened),
            "branches": sum(self.opened.values()),
            "joins_completed": sum(1 for s in closed if s.status == "done"),
            "joins_partial": sum(1 for s in closed if s.status == "partial"),
            "joins_expired": sum(1 for s in closed if s.expired),
            "late_branches": sum(s.late for s in closed),
            "duplicate_branches": sum(s.duplicates for s in closed),
            "branch_dead_letters": self.branch_dead_letters,
            "max_merged_per_join": max(self.merged.values(), default=0),
        }


async def audit_joins(
    redis: Redis,
    keys: Keys,
    steps: dict[str, list[dict[str, Any]]],
    handoffs: Iterable[dict[str, bytes]],
    branch_dead_letters: int,
) -> JoinAudit:
    found = JoinAudit(branch_dead_letters=branch_dead_letters)
    for event_steps in steps.values():
        for step in event_steps:
            decision = step.get("decision") or {}
            join = decision.get("join_id")
            if step.get("stage") != "validator" or join is None:
                continue
            if step.get("outcome") == "fanned_out":
                found.opened[join] = int(decision["branches"])
            else:
                found.merged[join] += 1
    for entry in handoffs:
        join = ready_join({b"join_ready": entry["join_ready"]} if "join_ready" in entry else None)
        if join is not None:
            found.ready[join] += 1
    for join in found.opened:
        found.states[join] = await load_join(redis, keys, join)
    return found


def is_branch_dead_letter(entry: dict[str, bytes]) -> bool:
    """A dead-lettered branch: its event goes on through its join, so it is not where the event
    ended."""
    return "branch" in entry


def branch_ref(entry: dict[str, bytes]) -> str:
    return as_text(entry.get("branch", b""))
