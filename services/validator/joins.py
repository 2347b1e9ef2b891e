"""The validator's side of parallel branches: opening a join, and what a closed join becomes.

A fan-out publishes one entry per branch to the join's branch agent and opens the join, in the
commit that acknowledges the output that fanned out. Branch entries carry no ledger stamp: their
siblings spend on the same event at the same time, so each call reserves in the shared ledger.
"""

from __future__ import annotations

import time
from typing import Any

from shared.agents.guardrails import check_loop, fingerprint
from shared.errors import ContractError
from shared.pipeline.envelope import Envelope
from shared.pipeline.join import JoinResult, JoinSpec
from shared.pipeline.keys import Keys
from shared.pipeline.routing import FanOut
from shared.runtime.join import JoinState, join_id, open_op
from shared.runtime.outcome import Op, Publish


def fan_out(
    keys: Keys,
    spec: JoinSpec,
    envelope: Envelope,
    results: dict[str, Any],
    decision: FanOut,
    ttl_s: int,
) -> tuple[list[Publish], Op, str]:
    """The branch entries, the op opening their join, and the join's id."""
    count = len(decision.payloads)
    if not 1 <= count <= spec.max_branches:
        raise ContractError(
            f"join {spec.name!r} takes 1 to {spec.max_branches} branches, not {count}",
            event_id=envelope.event_id,
        )
    join = join_id(envelope.event_id, spec.name, envelope.hops)
    publishes: list[Publish] = []
    for index, payload in enumerate(decision.payloads):
        data = payload.model_dump(mode="json")
        mark = fingerprint(spec.branch, data)
        check_loop(envelope.trail, mark)  # siblings may share an input (a panel): not a loop
        branch = envelope.next(
            "validator", data, results=results, trail=[*envelope.trail, mark],
            join=join, branch=index, branches=count,
        )  # fmt: skip
        publishes.append(Publish(keys.stream(spec.branch), branch.to_fields()))
    parent = envelope.model_copy(update={"results": results})
    op = open_op(
        keys, join, envelope.event_id, count, time.time() + spec.deadline_s,
        parent.to_fields()[b"envelope"], envelope.traceparent, ttl_s, keys.handoffs,
    )  # fmt: skip
    return publishes, op, join


def join_name(join: str) -> str:
    """The join's declared name, from its id ``<event_id>:<name>:<hops>``."""
    return join.rsplit(":", 2)[-2]


def join_result(spec: JoinSpec, state: JoinState) -> JoinResult:
    failures = dict(state.failures)
    if state.expired:
        for index, output in enumerate(state.outputs):
            if output is None and index not in failures:
                failures[index] = "deadline"
    return JoinResult(spec.name, state.outputs, failures, state.expired, state.late)


def partial_detail(result: JoinResult) -> str:
    """Which branches a partial join lacks, and why."""
    missing = ", ".join(f"{i} ({result.failures.get(i, 'missing')})" for i in result.missing)
    return (
        f"join {result.join}: {len(result.missing)} of {len(result.outputs)} branches "
        f"missing: {missing}"[:1000]
    )


def join_decision(result: JoinResult, join: str) -> dict[str, Any]:
    """What the run record's merge step says of the join."""
    return {
        "join": result.join,
        "join_id": join,
        "branches": len(result.outputs),
        "missing": list(result.missing),
        "partial": result.partial,
        "expired": result.expired,
    }
