"""The incremental scorer contract (`Detector.stream_scorer()` returns one) and slot storage.

A `StreamScorer` keeps one *slot* of state per open session (rows of a few arrays), so that a
micro-batch of events from many sessions is one batched call: `score(slots, tokens, times,
users)` gives each observed activity's anomaly score from its session's prefix (before it is
fed), `advance(slots, tokens, times)` feeds the observed activities. Both cost the same whatever
the session length. Slots are recycled through a free list; the arrays grow geometrically.
State is plain arrays, so snapshots are npz files.

Scorers with a next-activity distribution implement `predict(slots)`; the default `score` is
then 1 − P(observed | prefix) — what the next-activity detectors' batch path computes. Scorers
whose score is not such a probability (Isolation Forest's features, DeepLog's top-g rule)
override `score`. It lives with the models because every detector supplies its own scorer.

`RecentTokens` is the state most scorers need: the last W tokens per session in a ring, read
back as the same left-padded window the batch path builds (`_nextactivity.WindowMaker`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

StateShapes = dict[str, tuple[tuple[int, ...], Any, int]]
#: events.parquet rows → {row: details shown with a neighbour}; supplied by whoever holds the events
EventDetails = Callable[[np.ndarray], dict[int, dict[str, Any]]]


@dataclass
class Prediction:
    probs: np.ndarray  # float32 [n, vocab] next-activity distribution per queried slot
    neighbours: np.ndarray | None = None  # int64 [n, k] pool ids retrieved for each query
    similarities: np.ndarray | None = None  # float32 [n, k]


class StreamScorer(ABC):
    """Per-session state in slot arrays; subclasses declare `_state_shapes`."""

    vocab_size: int
    name: str = "scorer"
    #: set by the loader for scorers whose predictions cite past events (LAN's neighbours)
    event_details: EventDetails | None = None

    def __init__(self, capacity: int = 64) -> None:
        self._capacity = 0
        self._free: list[int] = []
        self._used = 0  # slots ever handed out (high-water mark)
        self.state: dict[str, np.ndarray] = {}
        self._grow(max(1, capacity))

    # -- what a subclass provides ------------------------------------------------------------
    @abstractmethod
    def _state_shapes(self) -> StateShapes:
        """name → (shape without the slot axis, dtype, slot axis position)."""

    def predict(self, slots: np.ndarray) -> Prediction | None:
        """Next-activity distribution for sessions with at least one activity (None: no such model)."""
        return None

    def score(
        self, slots: np.ndarray, tokens: np.ndarray, times_us: np.ndarray, users: np.ndarray
    ) -> tuple[np.ndarray, Prediction | None]:
        """float64 scores of the observed `tokens` (higher = more anomalous), and the prediction
        behind them for alert reasons. Default: 1 − P(token | prefix) from `predict`."""
        pred = self.predict(slots)
        if pred is None:
            raise NotImplementedError(f"{self.name}: a scorer without `predict` must override `score`")
        observed = pred.probs[np.arange(len(slots)), np.asarray(tokens, dtype=np.int64)]
        return 1.0 - observed.astype(np.float64), pred

    @abstractmethod
    def advance(self, slots: np.ndarray, tokens: np.ndarray, times_us: np.ndarray | None = None) -> None:
        """Feed one observed token (at its event time) per slot; slots are distinct within a call."""

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
            idx: list[slice | int] = [slice(None)] * self.state[name].ndim
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


class RecentTokens(StreamScorer):
    """A ring of each session's last `window` tokens, read back as left-padded windows."""

    def __init__(self, window: int, capacity: int = 64) -> None:
        if window < 0:
            raise ValueError(f"window must be >= 0, got {window}")
        self.window = int(window)
        super().__init__(capacity)

    def _state_shapes(self) -> StateShapes:
        return {"length": ((), np.int64, 0), "ring": ((self.window,), np.int32, 0)}

    def windows(self, slots: np.ndarray) -> np.ndarray:
        """int32 [n, W]: the W tokens before the next one, oldest first, 0 = before the session."""
        slots = np.asarray(slots, dtype=np.int64)
        w = self.window
        if w == 0:
            return np.zeros((len(slots), 0), dtype=np.int32)
        lengths = self.state["length"][slots]
        pos = lengths[:, None] - w + np.arange(w)[None, :]  # session positions of the columns
        out = self.state["ring"][slots[:, None], pos % w]
        out[pos < 0] = 0
        return out

    def advance(self, slots: np.ndarray, tokens: np.ndarray, times_us: np.ndarray | None = None) -> None:
        slots = np.asarray(slots, dtype=np.int64)
        lengths = self.state["length"][slots]
        if self.window:
            self.state["ring"][slots, lengths % self.window] = tokens
        self.state["length"][slots] = lengths + 1
