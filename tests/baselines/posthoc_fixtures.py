"""Shared helpers of the post-hoc baseline tests: the toy data, one thread, fit and score.

What every detector must do (shapes, AUC on the planted anomaly, seeds, save → load) is checked
once for all of them by `tests/test_contract.py`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from neighborwatch.models.base import Detector
from neighborwatch.sequences.base import SequenceSet
from neighborwatch.sequences.toy import toy_data


@functools.cache
def toy() -> dict[str, tuple[SequenceSet, np.ndarray]]:
    return toy_data(seed=0)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Tiny models on a shared 2-core machine: one thread avoids OpenMP spin-waiting, which
    makes multi-threaded torch / scikit-learn several times SLOWER here. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(before)


def fit_on_toy(cls: type[Detector], **kw: Any) -> Detector:
    d = toy()
    with one_thread():
        return cls(**kw).fit(*d["train"], *d["validation"])


def toy_test_scores(det: Detector) -> np.ndarray:
    with one_thread():
        return det.score_sequences(toy()["test"][0])
