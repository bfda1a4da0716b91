"""Fixtures shared by the baseline tests: the toy data, one thread, and the fitted detector of a
real-time contract test class (see `realtime_contract.py`)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from realtime_contract import Toy, fit_toy
from threadpoolctl import threadpool_limits

from neighborwatch.models.base import Detector
from neighborwatch.sequences.toy import toy_data


@pytest.fixture(scope="session")
def toy() -> Toy:
    """{'train'|'validation'|'test': (sequences, per-activity labels)} with a planted anomaly."""
    return toy_data(seed=0)


@pytest.fixture(scope="class")
def single_thread() -> Iterator[None]:
    """Tiny models on a shared 2-core machine run several times faster on one thread (no OpenMP
    spin-waiting against other jobs); restored when the class (or module) is done."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="class")
def fitted(request: pytest.FixtureRequest, toy: Toy, single_thread: None) -> tuple[Detector, np.ndarray]:
    """(detector, its scores of the toy test split) for the test class's `make(seed=0)`."""
    det = fit_toy(request.cls.make(0), toy)
    return det, det.score_activities(toy["test"][0])
