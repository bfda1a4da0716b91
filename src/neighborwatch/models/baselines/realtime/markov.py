"""n-gram (Markov) next-activity model with interpolated Kneser-Ney smoothing.

The classical baseline for "is this activity expected after the last few?": P(activity | the
previous n-1 activities), estimated by counting on the normal training data. Contexts that reach
back before the session start are padded with token 0 (a begin-of-session symbol), so the first
activities of a session are judged by how sessions begin.

Smoothing (`smoothing=`):
* `"kneser_ney"` (default): interpolated Kneser-Ney (Chen & Goodman 1998, single discount per
  order D = n1 / (n1 + 2 n2), clipped to [0.05, 0.95]): the highest order uses raw counts, lower
  orders continuation counts (in how many distinct contexts an n-gram appears), the lowest
  interpolates with the uniform distribution over the vocab_size - 1 real tokens, so no
  probability is ever 0.
* `"add_k"`: (c(context, w) + k) / (c(context) + k (V - 1)) at the full order only.
Score (`score=`): `"prob"` 1 - P (default, the same scale as the neural baselines) or `"nll"`
-log P. Training drops malicious targets when labels are given; it has no random choice (the
`seed` is accepted for a uniform interface). Saved as detector.json + counts.npz. Live: a ring
of the last n-1 tokens per session gives the same n-grams, looked up in the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from neighborwatch.models.base import ACTIVITY, SEQUENCE, Detector, NotFittedError
from neighborwatch.models.baselines._nextactivity import WindowMaker, target_positions
from neighborwatch.models.manifest import read_manifest, register, write_manifest
from neighborwatch.models.options import DetectorConfig, configure
from neighborwatch.models.stream import Prediction, RecentTokens
from neighborwatch.sequences.base import SequenceSet

SMOOTHINGS = ("kneser_ney", "add_k")
SCORES = ("prob", "nll")


def _lookup(keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """values[keys == q] per query, 0 where the key is absent (keys sorted)."""
    if keys.size == 0:
        return np.zeros(len(queries), dtype=np.float64)
    idx = np.minimum(np.searchsorted(keys, queries), keys.size - 1)
    return np.where(keys[idx] == queries, values[idx], 0).astype(np.float64)


@dataclass(frozen=True)
class MarkovConfig(DetectorConfig):
    order: int = 3
    smoothing: str = "kneser_ney"
    add_k: float = 0.1
    score: str = "prob"
    seed: int = 42  # no random choice; accepted for a uniform interface

    def __post_init__(self) -> None:
        if self.order < 1:
            raise ValueError(f"order must be >= 1, got {self.order}")
        if self.smoothing not in SMOOTHINGS:
            raise ValueError(f"smoothing must be one of {SMOOTHINGS}, got {self.smoothing!r}")
        if self.score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {self.score!r}")
        if self.add_k <= 0:
            raise ValueError("add_k must be > 0")


@register
class MarkovChain(Detector):
    name: ClassVar[str] = "markov"
    levels: ClassVar[frozenset[str]] = frozenset({ACTIVITY, SEQUENCE})
    Config = MarkovConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {"standard": {}, "fast": {}}

    def __init__(self, config: MarkovConfig | None = None, **overrides: Any) -> None:
        self.config = configure(self.Config, config, overrides, self.name)
        self.vocab_size: int | None = None
        # per context length k = 0..order-1: sorted n-gram codes and their (continuation) counts,
        # sorted context codes with their totals and number of distinct followers
        self.tables: dict[str, np.ndarray] = {}

    # -- n-grams as integer codes ------------------------------------------------------------
    def _grams(self, seqs: SequenceSet, positions: np.ndarray) -> np.ndarray:
        """[P, order] = (the order-1 previous activities, the activity) per position."""
        n = self.config.order
        targets = seqs.tokens[positions].astype(np.int64)[:, None]
        if n == 1:
            return targets
        return np.concatenate([WindowMaker(seqs, n - 1)(positions).astype(np.int64), targets], axis=1)

    def _vocab(self) -> int:
        if self.vocab_size is None:
            raise NotFittedError("markov", "score")
        return self.vocab_size

    def _encode(self, grams: np.ndarray) -> np.ndarray:
        vocab = self._vocab()
        code = np.zeros(len(grams), dtype=np.int64)
        for j in range(grams.shape[1]):
            code = code * vocab + grams[:, j]
        return code

    # -- training ----------------------------------------------------------------------------
    def fit(
        self,
        train: SequenceSet,
        train_labels: np.ndarray | None = None,
        validation: SequenceSet | None = None,
        validation_labels: np.ndarray | None = None,
    ) -> MarkovChain:
        n = self.config.order
        self.vocab_size = int(train.vocab_size)
        if self.vocab_size**n >= 2**62:
            raise ValueError(f"order {n} is too high for vocab_size {self.vocab_size} (codes overflow int64)")
        positions = target_positions(train, train_labels)
        if positions.size == 0:
            raise ValueError("markov: no training positions (every sequence has length < 2?)")
        grams = self._grams(train, positions)
        tables: dict[str, np.ndarray] = {}
        discounts = np.zeros(n)
        for k in range(n - 1, -1, -1):  # context length, highest first
            if k == n - 1:
                codes, counts = np.unique(self._encode(grams[:, n - 1 - k :]), return_counts=True)
            else:  # continuation counts: distinct left extensions of each shorter n-gram
                longer = tables[f"codes_{k + 1}"]
                codes, counts = np.unique(longer % self.vocab_size ** (k + 1), return_counts=True)
            ctx, inverse = np.unique(codes // self.vocab_size, return_inverse=True)
            tables[f"codes_{k}"], tables[f"counts_{k}"] = codes, counts.astype(np.int64)
            tables[f"ctx_{k}"] = ctx
            tables[f"total_{k}"] = np.bincount(inverse, weights=counts).astype(np.int64)
            tables[f"types_{k}"] = np.bincount(inverse).astype(np.int64)
            n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
            discounts[k] = np.clip(n1 / (n1 + 2 * n2), 0.05, 0.95) if n1 + n2 else 0.5
        tables["discounts"] = discounts
        self.tables = tables
        return self

    # -- scoring -----------------------------------------------------------------------------
    def probabilities(self, seqs: SequenceSet, positions: np.ndarray) -> np.ndarray:
        """P(activity at each position | the previous order-1 activities)."""
        if not self.tables:
            raise NotFittedError("markov")
        if seqs.vocab_size != self.vocab_size:
            raise ValueError(f"markov was trained on vocab_size {self.vocab_size}, got {seqs.vocab_size}")
        return self.gram_probabilities(self._grams(seqs, positions))

    def gram_probabilities(self, grams: np.ndarray) -> np.ndarray:
        """P(last column | the columns before it) per row of `grams` [P, order]."""
        n, t = self.config.order, self.tables
        uniform = 1.0 / max(self._vocab() - 1, 1)
        if self.config.smoothing == "add_k":
            k, codes = n - 1, self._encode(grams)
            c = _lookup(t[f"codes_{k}"], t[f"counts_{k}"], codes)
            total = _lookup(t[f"ctx_{k}"], t[f"total_{k}"], codes // self.vocab_size)
            a = self.config.add_k
            return (c + a) / (total + a / uniform)
        p = np.full(len(grams), uniform)
        for k in range(n):
            codes = self._encode(grams[:, n - 1 - k :])
            c = _lookup(t[f"codes_{k}"], t[f"counts_{k}"], codes)
            ctx = codes // self.vocab_size
            total = _lookup(t[f"ctx_{k}"], t[f"total_{k}"], ctx)
            types = _lookup(t[f"ctx_{k}"], t[f"types_{k}"], ctx)
            d, seen = t["discounts"][k], total > 0
            safe = np.where(seen, total, 1.0)
            p = np.where(seen, np.maximum(c - d, 0.0) / safe + d * types / safe * p, p)
        return p

    @property
    def scores_are_probabilities(self) -> bool:
        return self.config.score == "prob"

    def score_activities(self, seqs: SequenceSet) -> np.ndarray:
        out = np.full(seqs.n_activities, np.nan)
        positions = target_positions(seqs)
        p = self.probabilities(seqs, positions)
        out[positions] = self.scores_from_probabilities(p)
        return out

    def scores_from_probabilities(self, p: np.ndarray) -> np.ndarray:
        return -np.log(p) if self.config.score == "nll" else 1.0 - p

    def stream_scorer(self) -> MarkovStreamScorer:
        if not self.tables:
            raise NotFittedError("markov")
        return MarkovStreamScorer(self)

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        if not self.tables:
            raise NotFittedError("markov", "save")
        write_manifest(path, self.name, {**self.config.to_dict(), "vocab_size": self.vocab_size})
        np.savez(Path(path) / "counts.npz", **self.tables)  # type: ignore[arg-type]  # numpy stub: **arrays vs allow_pickle

    @classmethod
    def load(cls, path: str | Path) -> MarkovChain:
        config = dict(read_manifest(path, expect=cls.name)["config"])
        vocab_size = int(config.pop("vocab_size"))
        det = cls(MarkovConfig.from_dict(config, cls.name))
        det.vocab_size = vocab_size
        with np.load(Path(path) / "counts.npz", allow_pickle=False) as z:
            det.tables = {k: z[k] for k in z.files}
        return det


class MarkovStreamScorer(RecentTokens):
    """The last n-1 tokens per session; the n-gram tables answer exactly as in batch."""

    def __init__(self, detector: MarkovChain, capacity: int = 256) -> None:
        assert detector.vocab_size is not None
        self.det = detector
        self.name = detector.name
        self.vocab_size = detector.vocab_size
        super().__init__(detector.config.order - 1, capacity)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "order": self.det.config.order}

    def predict(self, slots: np.ndarray) -> Prediction:
        """Every candidate next token scored against each session's context (for alert reasons)."""
        ctx = self.windows(slots).astype(np.int64)
        v = self.vocab_size
        grams = np.concatenate([np.repeat(ctx, v, axis=0), np.tile(np.arange(v), len(ctx))[:, None]], axis=1)
        probs = self.det.gram_probabilities(grams).reshape(len(ctx), v)
        probs[:, 0] = 0.0  # padding is never the next activity
        return Prediction(probs.astype(np.float32))

    def score(
        self, slots: np.ndarray, tokens: np.ndarray, times_us: np.ndarray, users: np.ndarray
    ) -> tuple[np.ndarray, Prediction]:
        grams = np.concatenate(
            [self.windows(slots).astype(np.int64), np.asarray(tokens, dtype=np.int64)[:, None]], axis=1
        )
        return self.det.scores_from_probabilities(self.det.gram_probabilities(grams)), self.predict(slots)
