"""Fixtures shared by the baseline tests: the toy data, one thread, and the fitted detector of a
real-time contract test class (see `realtime_contract.py`)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from posthoc_fixtures import one_thread
from realtime_contract import Toy, fit_toy

from neighborwatch.models.base import Detector
from neighborwatch.sequences.toy import toy_data


@pytest.fixture(scope="session")
def toy() -> Toy:
    """{'train'|'validation'|'test': (sequences, per-activity labels)} with a planted anomaly."""
    return toy_data(seed=0)


@pytest.fixture(scope="class")
def single_thread() -> Iterator[None]:
    """One torch / BLAS thread for the test class (see `posthoc_fixtures.one_thread`)."""
    with one_thread():
        yield


@pytest.fixture(scope="class")
def fitted(request: pytest.FixtureRequest, toy: Toy, single_thread: None) -> tuple[Detector, np.ndarray]:
    """(detector, its scores of the toy test split) for the test class's `make(seed=0)`."""
    det = fit_toy(request.cls.make(0), toy)
    return det, det.score_activities(toy["test"][0])
