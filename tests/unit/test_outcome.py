"""Outcome helpers the runtime uses on every committed entry."""

from __future__ import annotations

import dataclasses

import pytest

from shared.outcome import Step, evolve


def test_evolve_copies_a_frozen_step_with_the_changes_and_leaves_the_original_alone() -> None:
    step = Step("triage", "ok", 1.0, 2.0, decision={"category": "billing"})
    stamped = evolve(step, consumer="c-1", entry_id="5-0", delivery=2)
    assert stamped == dataclasses.replace(step, consumer="c-1", entry_id="5-0", delivery=2)
    assert (step.consumer, step.entry_id, step.delivery) == ("", "", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stamped.consumer = "other"  # type: ignore[misc]
