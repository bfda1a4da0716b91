"""`BigramScorer`: a trivial, exact stream scorer used to test the engine without a trained model.

P(next | last) from smoothed bigram counts, with a batch twin (`batch_scores`) to check
streaming = batch. The scorer contract itself is `neighborwatch.models.stream`; every detector
supplies its own scorer through `Detector.stream_scorer()`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neighborwatch.models.stream import Prediction, StreamScorer
from neighborwatch.sequences.base import SequenceSet


class BigramScorer(StreamScorer):
    """P(next | previous token) with add-`alpha` smoothing: a trivial, exact reference scorer."""

    name = "bigram"

    def __init__(
        self, vocab_size: int, counts: np.ndarray | None = None, alpha: float = 0.1, capacity: int = 64
    ) -> None:
        self.vocab_size = int(vocab_size)
        self.alpha = float(alpha)
        counts = np.zeros((vocab_size, vocab_size)) if counts is None else np.asarray(counts, dtype=np.float64)
        sm = counts + alpha
        sm[:, 0] = 0.0  # padding is never the next activity
        self.table = (sm / sm.sum(axis=1, keepdims=True)).astype(np.float32)
        super().__init__(capacity)

    @classmethod
    def fit(cls, seqs: SequenceSet, alpha: float = 0.1) -> BigramScorer:
        counts = np.zeros((seqs.vocab_size, seqs.vocab_size))
        nxt = np.ones(seqs.n_activities, dtype=bool)
        nxt[seqs.offsets[:-1][seqs.lengths > 0]] = False  # first activity has no predecessor
        pos = np.flatnonzero(nxt)
        np.add.at(counts, (seqs.tokens[pos - 1], seqs.tokens[pos]), 1.0)
        return cls(seqs.vocab_size, counts, alpha)

    def _state_shapes(self) -> dict[str, tuple[tuple[int, ...], Any, int]]:
        return {"last": ((), np.int32, 0)}

    def predict(self, slots: np.ndarray) -> Prediction:
        return Prediction(self.table[self.state["last"][slots]])

    def advance(self, slots: np.ndarray, tokens: np.ndarray, times_us: np.ndarray | None = None) -> None:
        self.state["last"][slots] = tokens

    def batch_scores(self, seqs: SequenceSet) -> np.ndarray:
        """The batch twin: 1 − P(token | previous token), NaN at each sequence's first activity."""
        out = np.full(seqs.n_activities, np.nan, dtype=np.float64)
        pos = np.flatnonzero(seqs.position_in_sequence() > 0)
        out[pos] = 1.0 - self.table[seqs.tokens[pos - 1], seqs.tokens[pos]]
        return out
