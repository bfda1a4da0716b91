"""A live worker's collector settings (`streaming/collector.py`)."""

from __future__ import annotations

import gc

from neighborwatch.streaming.collector import YOUNG_EVERY, settle_for_streaming


def test_a_worker_freezes_its_start_up_state_and_collects_young_objects_rarely() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    try:
        held = [[i] for i in range(1000)]  # start-up state that lives as long as the worker
        settle_for_streaming()
        assert gc.get_freeze_count() >= frozen + len(held)
        assert gc.get_threshold()[0] >= YOUNG_EVERY
        assert gc.get_threshold()[1:] == before[1:]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
