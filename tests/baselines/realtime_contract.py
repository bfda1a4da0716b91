"""What every real-time baseline must do, as a test mixin: a test module subclasses
`RealtimeContract` (class name starting with `Test`) and sets `make(seed) -> Detector`.

Contract: one score per activity, NaN exactly at each sequence's first activity and finite
elsewhere; better than random on the planted anomaly (AUC > 0.7 on the toy test split); the
same seed gives the same scores; save → load_detector gives the same scores; a score depends on
the activity and its prefix only (truncating the sequences after it changes nothing); scoring
an unfitted detector is a clear error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from neighborwatch.models.base import ACTIVITY, Detector
from neighborwatch.models.registry import available, load_detector, read_manifest
from neighborwatch.sequences.base import SequenceSet

Toy = dict[str, tuple[SequenceSet, np.ndarray]]
Fitted = tuple[Detector, np.ndarray]


def fit_toy(det: Detector, toy: Toy) -> Detector:
    return det.fit(*toy["train"], *toy["validation"])


def truncate(seqs: SequenceSet, keep: int) -> SequenceSet:
    """Every sequence cut to its first `keep` activities (what a real-time scorer had seen)."""
    mask = seqs.position_in_sequence() < keep
    lengths = np.minimum(seqs.lengths, keep)
    return SequenceSet(tokens=seqs.tokens[mask], offsets=np.concatenate([[0], np.cumsum(lengths)]),
                       event_rows=seqs.event_rows[mask], times=seqs.times[mask],
                       meta=seqs.meta.with_columns(length=lengths.astype(np.int32)), kind=seqs.kind,
                       vocab_size=seqs.vocab_size)


class RealtimeContract:
    make: Callable[[int], Detector]
    min_auc = 0.7

    def test_registered_as_activity_detector(self) -> None:
        det = self.make(0)
        assert available()[det.name] is type(det)
        assert ACTIVITY in det.levels

    def test_one_score_per_activity_nan_only_at_sequence_start(self, fitted: Fitted, toy: Toy) -> None:
        seqs = toy["test"][0]
        _, scores = fitted
        assert scores.shape == (seqs.n_activities,) and scores.dtype == np.float64
        first = seqs.position_in_sequence() == 0
        assert np.isnan(scores[first]).all()
        assert np.isfinite(scores[~first]).all()

    def test_better_than_random_on_planted_anomaly(self, fitted: Fitted, toy: Toy) -> None:
        _, scores = fitted
        ok = ~np.isnan(scores)
        assert roc_auc_score(toy["test"][1][ok], scores[ok]) > self.min_auc

    def test_same_seed_same_scores(self, fitted: Fitted, toy: Toy) -> None:
        again = fit_toy(self.make(0), toy)
        np.testing.assert_array_equal(again.score_activities(toy["test"][0]), fitted[1])

    def test_save_load_same_scores(self, fitted: Fitted, toy: Toy, tmp_path: Path) -> None:
        det, scores = fitted
        det.save(tmp_path / "m")
        assert read_manifest(tmp_path / "m")["name"] == det.name
        assert not [p for p in (tmp_path / "m").iterdir() if p.suffix in {".pkl", ".pickle"}]
        loaded = load_detector(tmp_path / "m")
        assert type(loaded) is type(det)
        np.testing.assert_array_equal(loaded.score_activities(toy["test"][0]), scores)

    def test_scores_use_the_prefix_only(self, fitted: Fitted, toy: Toy) -> None:
        det, scores = fitted
        seqs = toy["test"][0]
        short = det.score_activities(truncate(seqs, 3))
        np.testing.assert_allclose(short, scores[seqs.position_in_sequence() < 3], rtol=1e-5, atol=1e-6)

    def test_unfitted_detector_refuses_to_score(self, toy: Toy) -> None:
        with pytest.raises(RuntimeError, match="not fitted"):
            self.make(0).score_activities(toy["test"][0])


#: training settings that fit a next-activity baseline on the toy data in about a second
TOY_TRAINING = {"max_epochs": 3, "batch_size": 128, "window": 8, "lr": 5e-3}


def sequences_of(token_lists: list[list[int]], vocab_size: int = 169, users: list[str] | None = None) -> SequenceSet:
    """A SequenceSet from explicit token lists (one minute apart, one hour per sequence)."""
    import polars as pl

    from neighborwatch.sequences.base import META_SCHEMA

    lengths = np.array([len(t) for t in token_lists], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    n, total = len(token_lists), int(lengths.sum())
    pos = np.arange(total) - np.repeat(offsets[:-1], lengths)
    times = np.repeat(np.arange(n) * 3_600_000_000, lengths) + pos * 60_000_000
    meta = pl.DataFrame({"seq_id": np.arange(n), "user": users or ["U0"] * n, "host": ["PC"] * n,
                         "start": times[offsets[:-1]].astype("datetime64[us]"),
                         "end": times[offsets[1:] - 1].astype("datetime64[us]"),
                         "length": lengths.astype(np.int32), "split": ["test"] * n}, schema=META_SCHEMA)
    return SequenceSet(tokens=np.concatenate([np.asarray(t) for t in token_lists]).astype(np.int32),
                       offsets=offsets, event_rows=np.arange(total), times=times, meta=meta,
                       vocab_size=vocab_size)
