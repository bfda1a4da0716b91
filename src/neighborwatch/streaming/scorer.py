"""The incremental scorer contract, slot storage, and a trivial bigram scorer.

A `StreamScorer` keeps one *slot* of state per open session (rows of a few arrays), so that a
micro-batch of events from many sessions is one batched call: `predict(slots)` gives the next-
activity distribution from each session's prefix, `advance(slots, tokens)` feeds the observed
activities. Both cost the same whatever the session length. Slots are recycled through a free
list; the arrays grow geometrically. State is plain arrays, so snapshots are npz files.

`BigramScorer` is the stand-in used to test the engine without a trained LAN: P(next | last) from
smoothed bigram counts, with a batch twin (`batch_scores`) to check streaming = batch.
The LAN scorer lives in `neighborwatch.streaming.lan_scorer`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from neighborwatch.sequences.base import SequenceSet


@dataclass
class Prediction:
    probs: np.ndarray  # float32 [n, vocab] next-activity distribution per queried slot
    neighbours: np.ndarray | None = None  # int64 [n, k] pool ids retrieved for each query
    similarities: np.ndarray | None = None  # float32 [n, k]


class StreamScorer(ABC):
    """Per-session state in slot arrays; subclasses declare `_state_shapes`."""

    vocab_size: int
    name: str = "scorer"

    def __init__(self, capacity: int = 64) -> None:
        self._capacity = 0
        self._free: list[int] = []
        self._used = 0  # slots ever handed out (high-water mark)
        self.state: dict[str, np.ndarray] = {}
        self._grow(max(1, capacity))

    # -- what a subclass provides ------------------------------------------------------------
    @abstractmethod
    def _state_shapes(self) -> dict[str, tuple[tuple[int, ...], Any, int]]:
        """name → (shape without the slot axis, dtype, slot axis position)."""

    @abstractmethod
    def predict(self, slots: np.ndarray) -> Prediction:
        """Next-activity distribution for sessions that have at least one activity."""

    @abstractmethod
    def advance(self, slots: np.ndarray, tokens: np.ndarray) -> None:
        """Feed one observed token per slot (slots are distinct within a call)."""

    def config(self) -> dict[str, Any]:
        """What must match for a snapshot to be loadable into this scorer."""
        return {"name": self.name, "vocab_size": self.vocab_size}

    def describe_neighbours(self, ids: np.ndarray) -> list[dict[str, Any]]:
        """Human-readable pool entries for alert reasons (empty for scorers without a pool)."""
        return []

    # -- slots -------------------------------------------------------------------------------
    def _grow(self, capacity: int) -> None:
        for name, (shape, dtype, axis) in self._state_shapes().items():
            full = list(shape)
            full.insert(axis, capacity)
            new = np.zeros(full, dtype=dtype)
            if name in self.state:
                old = self.state[name]
                idx = [slice(None)] * new.ndim
                idx[axis] = slice(0, old.shape[axis])
                new[tuple(idx)] = old
            self.state[name] = new
        self._capacity = capacity

    def _reset(self, slot: int) -> None:
        for name, (_, _, axis) in self._state_shapes().items():
            idx = [slice(None)] * self.state[name].ndim
            idx[axis] = slot
            self.state[name][tuple(idx)] = 0

    def allocate(self) -> int:
        """A zeroed slot for a new session."""
        if self._free:
            slot = self._free.pop()
        else:
            if self._used >= self._capacity:
                self._grow(self._capacity * 2)
            slot = self._used
            self._used += 1
        self._reset(slot)
        return slot

    def release(self, slot: int) -> None:
        self._free.append(int(slot))

    @property
    def open_slots(self) -> int:
        return self._used - len(self._free)

    # -- snapshots ---------------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for name, (_, _, axis) in self._state_shapes().items():
            idx = [slice(None)] * self.state[name].ndim
            idx[axis] = slice(0, self._used)
            out[f"state.{name}"] = self.state[name][tuple(idx)]
        out["free"] = np.asarray(self._free, dtype=np.int64)
        return out

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        names = self._state_shapes()
        used = int(arrays[f"state.{next(iter(names))}"].shape[names[next(iter(names))][2]])
        if used > self._capacity:
            self._grow(max(used, self._capacity * 2))
        for name, (_, _, axis) in names.items():
            idx = [slice(None)] * self.state[name].ndim
            idx[axis] = slice(0, used)
            self.state[name][tuple(idx)] = arrays[f"state.{name}"]
        self._used = used
        self._free = [int(x) for x in arrays["free"]]


class BigramScorer(StreamScorer):
    """P(next | previous token) with add-`alpha` smoothing: a trivial, exact reference scorer."""

    name = "bigram"

    def __init__(self, vocab_size: int, counts: np.ndarray | None = None, alpha: float = 0.1,
                 capacity: int = 64) -> None:
        self.vocab_size = int(vocab_size)
        self.alpha = float(alpha)
        counts = np.zeros((vocab_size, vocab_size)) if counts is None else np.asarray(counts, dtype=np.float64)
        sm = counts + alpha
        sm[:, 0] = 0.0  # padding is never the next activity
        self.table = (sm / sm.sum(axis=1, keepdims=True)).astype(np.float32)
        super().__init__(capacity)

    @classmethod
    def fit(cls, seqs: SequenceSet, alpha: float = 0.1) -> "BigramScorer":
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

    def advance(self, slots: np.ndarray, tokens: np.ndarray) -> None:
        self.state["last"][slots] = tokens

    def batch_scores(self, seqs: SequenceSet) -> np.ndarray:
        """The batch twin: 1 − P(token | previous token), NaN at each sequence's first activity."""
        out = np.full(seqs.n_activities, np.nan, dtype=np.float64)
        pos = np.flatnonzero(seqs.position_in_sequence() > 0)
        out[pos] = 1.0 - self.table[seqs.tokens[pos - 1], seqs.tokens[pos]]
        return out
