"""Worker processes collect cycles rarely and never walk their start-up objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared import heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_service_start_up_freezes_existing_objects_and_collects_young_ones_less_often() -> None:
    _, middle, old = gc.get_threshold()
    heap.tune()
    assert gc.get_freeze_count() > 1000  # at least the imports' objects
    assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, middle, old)
