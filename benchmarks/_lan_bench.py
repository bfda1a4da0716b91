"""Shared by benchmarks/train.py and benchmarks/score.py: the data splits they measure on."""

from __future__ import annotations

import numpy as np

from neighborwatch.sequences.base import SequenceSet


def splits(work: str | None, toy_scale: int = 1) -> dict[str, tuple[SequenceSet, np.ndarray]]:
    """{'train'|'validation'|'test': (sessions, per-activity labels)} from WORK, or toy data."""
    if work is None:
        from neighborwatch.sequences.toy import toy_data

        return toy_data(seed=0, n_train=300 * toy_scale, n_val=80 * toy_scale, n_test=120 * toy_scale)
    from neighborwatch.data.labels import row_labels
    from neighborwatch.sequences.base import activity_labels
    from neighborwatch.sequences.build import load_sequences

    seqs = load_sequences(work, "session")
    malicious, _ = row_labels(work)
    out = {}
    for name in ("train", "validation", "test"):
        s = seqs.split(name)
        out[name] = (s, activity_labels(s, malicious))
    return out
