"""Shared checks for the post-hoc baseline tests (one test module per detector imports these).

Every post-hoc detector must: fit on the toy training sessions, give one finite float per test
sequence, rank the planted anomaly above random (sequence AUC > 0.7), give identical scores when
refitted with the same seed, and give identical scores after save → load in the registry's way.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from neighborwatch.models.base import SEQUENCE, Detector
from neighborwatch.models.registry import load_detector, read_manifest
from neighborwatch.sequences.base import SequenceSet, sequence_labels
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


def check_scores(det: Detector) -> np.ndarray:
    seqs = toy()["test"][0]
    s = toy_test_scores(det)
    assert det.levels == frozenset({SEQUENCE})
    assert isinstance(s, np.ndarray) and s.shape == (len(seqs),)
    assert np.issubdtype(s.dtype, np.floating) and np.isfinite(s).all()
    assert s.std() > 0, "constant scores rank nothing"
    return s


def sequence_auc(det: Detector) -> float:
    seqs, labels = toy()["test"]
    return float(roc_auc_score(sequence_labels(seqs, labels), toy_test_scores(det)))


def check_deterministic(det: Detector, cls: type[Detector], **kw: Any) -> None:
    again = fit_on_toy(cls, **kw)
    np.testing.assert_array_equal(toy_test_scores(det), toy_test_scores(again))


def check_roundtrip(det: Detector, path: Path) -> None:
    det.save(path)
    assert read_manifest(path)["name"] == det.name
    assert not list(path.glob("*.pkl")) and not list(path.glob("*.pickle"))
    with one_thread():
        loaded = load_detector(path)
    np.testing.assert_array_equal(toy_test_scores(det), toy_test_scores(loaded))
