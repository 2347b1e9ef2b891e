"""What an event's run-record steps say about the work it took: hops, LLM calls, retries, spend,
and how the validator judged each agent's first output. Pure functions of the steps."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from services.pipeline import PIPELINE
from shared.runtime.deadletter import CONTRACT_VIOLATION


@dataclass(frozen=True)
class Trajectory:
    """Attributes:
    hops: stage attempts by the four services (agents and validator).
    llm_calls: LLM calls the agents made (records from before steps counted them: agent attempts
        that spent tokens).
    retries: clarification retries: outputs the validator sent back to their agent.
    tokens_in / tokens_out / cost_usd: LLM spend over every attempt.
    judged / passed: agent outputs the validator judged on their first attempt, and how many of
        those it accepted (a halt on a budget or deadline is no judgement and is not counted).
    """

    hops: int = 0
    llm_calls: int = 0
    retries: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    judged: int = 0
    passed: int = 0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tokens": self.tokens, "cost_usd": round(self.cost_usd, 8)}


def trajectory(steps: list[dict[str, Any]]) -> Trajectory:
    hops = llm_calls = retries = tokens_in = tokens_out = judged = passed = 0
    cost = 0.0
    last_agent: str | None = None
    first_verdicts: set[str] = set()
    for step in steps:
        stage = step.get("stage")
        tokens_in += int(step.get("tokens_in", 0))
        tokens_out += int(step.get("tokens_out", 0))
        cost += float(step.get("cost_usd", 0.0))
        if stage in PIPELINE.services:
            hops += 1
        if stage in PIPELINE.agent_names:
            last_agent = stage
            spent = step.get("tokens_in", 0) + step.get("tokens_out", 0) > 0
            llm_calls += int(step.get("llm_calls", spent))
            continue
        if stage != "validator":
            continue
        if step.get("outcome") == "clarification_requested":
            retries += 1
        verdict = _verdict(step)
        checked = step.get("decision", {}).get("checked", last_agent)
        if verdict is None or checked not in PIPELINE.agent_names or step.get("attempt", 0) != 0:
            continue
        if checked not in first_verdicts:
            first_verdicts.add(checked)
            judged += 1
            passed += verdict
    return Trajectory(hops, llm_calls, retries, tokens_in, tokens_out, cost, judged, passed)


def _verdict(step: dict[str, Any]) -> bool | None:
    """True: the validator accepted the output; False: it rejected it (sent back with feedback,
    or dead-lettered it as a contract violation); None: no judgement of an output."""
    verdict = step.get("decision", {}).get("verdict")
    if verdict in ("accepted", "rejected"):
        return bool(verdict == "accepted")
    if step.get("outcome") == "dead_lettered" and step.get("reason") == CONTRACT_VIOLATION:
        return False
    return None
