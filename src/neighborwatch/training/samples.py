"""Training-sample selection (LAN.md §2.8-9), a private stand-in until `sequences.samples` lands.

Samples are flat target positions p (the activity predicted from its prefix), i.e. positions
with index ≥ 1 inside their sequence. Every position of sessions that contain a malicious
activity, a random `normal_rate` share of the positions of normal sessions; then abnormal-target
samples are oversampled with replacement up to `ratio` × the normal ones.
"""

from __future__ import annotations

import numpy as np

from neighborwatch.sequences.base import SequenceSet, sequence_labels


def training_samples(seqs: SequenceSet, activity_labels: np.ndarray, normal_rate: float = 0.5,
                     seed: int = 0) -> np.ndarray:
    """Sorted int64 flat target positions."""
    rng = np.random.default_rng(seed)
    scoreable = seqs.position_in_sequence() >= 1
    bad_seq = sequence_labels(seqs, activity_labels)[seqs.seq_index()]
    keep = scoreable & (bad_seq | (rng.random(seqs.n_activities) < normal_rate))
    return np.flatnonzero(keep)


def oversample(targets: np.ndarray, labels: np.ndarray, ratio: float = 0.1, seed: int = 0) -> np.ndarray:
    """Add random copies of abnormal-target samples until they are `ratio` × the normal ones."""
    rng = np.random.default_rng(seed)
    bad = targets[labels[targets]]
    n_normal = int((~labels[targets]).sum())
    want = int(round(ratio * n_normal))
    if len(bad) == 0 or len(bad) >= want:
        return targets
    return np.sort(np.concatenate([targets, rng.choice(bad, want - len(bad), replace=True)]))
