"""Toy data helpers of the baseline tests. The contract every detector must meet (shapes,
prefix-only scores, seeds, save → load, stream = batch) is `tests/test_contract.py`, run over the
registry; the modules here test what is particular to one detector."""

from __future__ import annotations

import numpy as np

from neighborwatch.models.base import Detector
from neighborwatch.sequences.base import SequenceSet

Toy = dict[str, tuple[SequenceSet, np.ndarray]]


def fit_toy(det: Detector, toy: Toy) -> Detector:
    return det.fit(*toy["train"], *toy["validation"])


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
    meta = pl.DataFrame(
        {
            "seq_id": np.arange(n),
            "user": users or ["U0"] * n,
            "host": ["PC"] * n,
            "start": times[offsets[:-1]].astype("datetime64[us]"),
            "end": times[offsets[1:] - 1].astype("datetime64[us]"),
            "length": lengths.astype(np.int32),
            "split": ["test"] * n,
        },
        schema=META_SCHEMA,
    )
    return SequenceSet(
        tokens=np.concatenate([np.asarray(t) for t in token_lists]).astype(np.int32),
        offsets=offsets,
        event_rows=np.arange(total),
        times=times,
        meta=meta,
        vocab_size=vocab_size,
    )


def streamed(det: Detector, seqs: SequenceSet) -> np.ndarray:
    """Activity scores fed event by event: round t scores the t-th activity of every sequence
    in one batched call (as the engine does); half way the state goes through a snapshot into
    a fresh scorer."""
    scorer = det.stream_scorer()
    assert scorer is not None
    out = np.full(seqs.n_activities, np.nan)
    users = np.repeat(seqs.meta["user"].fill_null("").to_numpy().astype(str), seqs.lengths)
    slots = np.array([scorer.allocate() for _ in range(len(seqs))])
    depth = int(seqs.lengths.max())
    for t in range(depth):
        if t == depth // 2:
            arrays = scorer.state_arrays()
            scorer = det.stream_scorer()
            assert scorer is not None
            scorer.load_state_arrays(arrays)
        alive = np.flatnonzero(seqs.lengths > t)
        pos = seqs.offsets[alive] + t
        if t > 0:
            out[pos], _ = scorer.score(slots[alive], seqs.tokens[pos], seqs.times[pos], users[pos])
        scorer.advance(slots[alive], seqs.tokens[pos], seqs.times[pos])
    return out
