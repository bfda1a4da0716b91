"""Next-activity samples: counts, malicious sessions whole, seeded 50 %, oversampling ratio."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from neighborwatch.sequences.base import SequenceSet
from neighborwatch.sequences.samples import Samples, evaluation_samples, oversample, training_samples
from neighborwatch.sequences.toy import toy_data


def make_set(seqs: list[list[int]]) -> SequenceSet:
    lengths = [len(s) for s in seqs]
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    tokens = np.array([t for s in seqs for t in s], dtype=np.int32)
    return SequenceSet(
        tokens, offsets, np.arange(len(tokens)), np.arange(len(tokens)), pl.DataFrame({"seq_id": np.arange(len(seqs))})
    )


def test_evaluation_samples_every_position_from_one() -> None:
    seqs = make_set([[1, 2, 3], [4], [], [5, 6]])
    labels = np.array([False, False, True, False, False, True])
    s = evaluation_samples(seqs, labels)
    assert list(zip(s.seq.tolist(), s.pos.tolist())) == [(0, 1), (0, 2), (3, 1)]
    assert s.target.tolist() == [2, 3, 6] and s.label.tolist() == [False, True, True]
    prefixes, lengths = s.prefixes(seqs)
    assert prefixes.tolist() == [[1, 0], [1, 2], [5, 0]] and lengths.tolist() == [1, 2, 1]
    assert evaluation_samples(seqs).label is None


def test_prefixes_truncate_from_the_left() -> None:
    seqs = make_set([[1, 2, 3, 4, 5]])
    s = evaluation_samples(seqs)
    p, n = s.prefixes(seqs, idx=np.array([3, 0]), max_len=2)
    assert p.tolist() == [[3, 4], [1, 0]] and n.tolist() == [2, 1]


def test_training_samples_keep_malicious_sessions_whole_and_half_of_normal() -> None:
    seqs, labels = toy_data(seed=1, n_train=400, anomaly_rate=0.05)["train"]
    from neighborwatch.sequences.base import sequence_labels

    bad = sequence_labels(seqs, labels)
    assert bad.any() and (~bad).any()
    s = training_samples(seqs, labels, normal_rate=0.5, seed=7)
    positions_bad = int((seqs.lengths[bad] - 1).sum())
    positions_normal = int((seqs.lengths[~bad] - 1).sum())
    from_bad = bad[s.seq]
    assert from_bad.sum() == positions_bad  # every position of every malicious session
    assert (~from_bad).sum() == round(0.5 * positions_normal)  # exactly half of the normal ones
    assert np.all(s.pos >= 1)
    assert np.array_equal(s.target, seqs.tokens[s.flat_index(seqs)])
    assert np.array_equal(s.label, labels[s.flat_index(seqs)])
    assert len(np.unique(s.flat_index(seqs))) == len(s)  # no duplicates before oversampling


def test_training_samples_are_seeded() -> None:
    seqs, labels = toy_data(seed=2, n_train=200)["train"]
    a = training_samples(seqs, labels, seed=5)
    b = training_samples(seqs, labels, seed=5)
    c = training_samples(seqs, labels, seed=6)
    assert np.array_equal(a.flat_index(seqs), b.flat_index(seqs))
    assert not np.array_equal(a.flat_index(seqs), c.flat_index(seqs))


def test_training_samples_rate_extremes_and_bad_input() -> None:
    seqs, labels = toy_data(seed=3, n_train=50)["train"]
    assert len(training_samples(seqs, labels, normal_rate=1.0)) == len(evaluation_samples(seqs))
    only_bad = training_samples(seqs, labels, normal_rate=0.0)
    assert only_bad.n_malicious == labels[seqs.position_in_sequence() >= 1].sum()
    with pytest.raises(ValueError, match="normal_rate"):
        training_samples(seqs, labels, normal_rate=1.5)
    with pytest.raises(ValueError, match="one entry per activity"):
        training_samples(seqs, labels[:-1])


def test_oversample_to_ratio_of_normal() -> None:
    seqs, labels = toy_data(seed=4, n_train=400, anomaly_rate=0.03)["train"]
    s = training_samples(seqs, labels)
    n_normal, n_bad = len(s) - s.n_malicious, s.n_malicious
    assert 0 < n_bad < 0.1 * n_normal
    o = oversample(s, ratio=0.1, seed=1)
    assert o.n_malicious == round(0.1 * n_normal)
    assert len(o) - o.n_malicious == n_normal  # normal samples untouched
    bad_idx = s.flat_index(seqs)[s.label]
    counts = np.unique(o.flat_index(seqs)[o.label], return_counts=True)
    assert set(counts[0]) == set(bad_idx)  # only abnormal samples are repeated
    assert counts[1].max() - counts[1].min() <= 1  # evenly: whole copies + remainder
    again = oversample(s, ratio=0.1, seed=1)
    assert np.array_equal(o.flat_index(seqs), again.flat_index(seqs))


def test_oversample_noop_without_abnormal_or_when_enough() -> None:
    s = Samples(np.zeros(10), np.ones(10), np.ones(10), np.zeros(10, bool))
    assert oversample(s) is s
    rich = Samples(np.zeros(10), np.ones(10), np.ones(10), np.arange(10) < 5)
    assert oversample(rich, ratio=0.1) is rich
    with pytest.raises(ValueError, match="labelled"):
        oversample(Samples(np.zeros(2), np.ones(2), np.ones(2), None))


def test_samples_save_load(tmp_path) -> None:
    seqs, labels = toy_data(seed=5, n_train=30)["train"]
    s = training_samples(seqs, labels)
    s.save(tmp_path / "s.npz")
    back = Samples.load(tmp_path / "s.npz")
    assert np.array_equal(back.seq, s.seq) and np.array_equal(back.label, s.label)
