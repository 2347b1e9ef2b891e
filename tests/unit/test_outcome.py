"""Outcome helpers the runtime uses on every committed entry."""

from __future__ import annotations

import dataclasses

import pytest

from shared.runtime.outcome import Step, evolve


def test_evolve_copies_a_frozen_step_with_the_changes_and_leaves_the_original_alone() -> None:
    step = Step("triage", "ok", 1.0, 2.0, decision={"category": "billing"})
    stamped = evolve(step, consumer="c-1", entry_id="5-0", delivery=2)
    assert stamped == dataclasses.replace(step, consumer="c-1", entry_id="5-0", delivery=2)
    assert (step.consumer, step.entry_id, step.delivery) == ("", "", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stamped.consumer = "other"  # type: ignore[misc]


def test_a_step_as_stored_keeps_field_order_and_zeros_and_drops_empty_values() -> None:
    step = Step(
        "validator", "routed", 10.0, 10.0125, consumer="", entry_id="7-0", delivery=2,
        reason=None, detail="", decision={},
    )  # fmt: skip
    assert list(step.as_dict().items()) == [
        ("stage", "validator"), ("outcome", "routed"), ("started_at", 10.0),
        ("ended_at", 10.0125), ("entry_id", "7-0"), ("delivery", 2), ("attempt", 0),
        ("tokens_in", 0), ("tokens_out", 0), ("cost_usd", 0.0), ("duration_ms", 12.5),
    ]  # fmt: skip


def test_an_agent_step_as_stored_counts_its_calls_and_keeps_its_decision() -> None:
    step = Step(
        "triage", "ok", 1.0, 2.0, llm_calls=1, tokens_in=5, cost_usd=0.5, reason="r",
        detail="d", decision={"category": "billing", "empty": {}},
    )  # fmt: skip
    assert list(step.as_dict().items()) == [
        ("stage", "triage"), ("outcome", "ok"), ("started_at", 1.0), ("ended_at", 2.0),
        ("delivery", 1), ("attempt", 0), ("llm_calls", 1), ("tokens_in", 5), ("tokens_out", 0),
        ("cost_usd", 0.5), ("reason", "r"), ("detail", "d"),
        ("decision", {"category": "billing", "empty": {}}), ("duration_ms", 1000.0),
    ]  # fmt: skip
