"""Fixtures shared by the baseline tests: the toy data and one thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from posthoc_fixtures import one_thread
from toy_sequences import Toy

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
