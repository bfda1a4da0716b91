"""The detector contract shared by LAN and every baseline (PyOD-style batch API).

Evaluation code only ever talks to this interface, so it never knows which detector it runs.
Scores are "higher = more anomalous".

* Activity level (real-time): `score_activities(seqs)` returns one float per flat position of
  `seqs`, computed from that activity and its prefix only; positions a detector cannot score
  (the first activity of a sequence for next-activity models) are NaN.
* Sequence level (post-hoc): `score_sequences(seqs)` returns one float per sequence.
* Live (a capability, like `levels`): `stream_scorer()` returns a `models.stream.StreamScorer`
  that gives, event by event, the same activity scores as `score_activities` (None: the
  detector cannot run live). The loader and the service only ever ask for this.

Labels are separate arrays (per flat position, bool) passed to `fit` only; detectors that are
unsupervised ignore them. Nothing else in a detector may read ground truth.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from neighborwatch.models.stream import StreamScorer
from neighborwatch.sequences.base import SequenceSet

ACTIVITY = "activity"
SEQUENCE = "sequence"
MIN_P = 1e-9  # surprisal is capped at −log(MIN_P) ≈ 20.7 nats


def surprisal(score: float | np.ndarray, min_p: float = MIN_P) -> Any:
    """−log P(observed) from an activity score 1 − P (NaN stays NaN), capped at −log(min_p)."""
    return -np.log(np.clip(1.0 - np.asarray(score, dtype=np.float64), min_p, 1.0))


class NotFittedError(RuntimeError):
    """Scoring, saving or streaming a detector before `fit` / `load` (one type for all)."""

    def __init__(self, name: str, doing: str = "score") -> None:
        super().__init__(f"{name} is not fitted; call fit() or load() before you {doing}")


class Detector(ABC):
    #: short name used in tables and on the command line
    name: ClassVar[str] = "detector"
    #: which of ACTIVITY / SEQUENCE this detector scores natively
    levels: ClassVar[frozenset[str]] = frozenset({ACTIVITY, SEQUENCE})
    #: named constructor parameters: "standard" (CPU-sized, minutes on a small organisation) and
    #: "fast" (a tiny dataset end to end in seconds: tests, smoke runs); missing = the defaults
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    #: the method this project is about: in both benchmark tables, fitted once on sessions
    featured: ClassVar[bool] = False
    #: another detector whose fit, with the same parameters and seed, is this one's (e.g. a
    #: post-hoc row that reuses a real-time model unchanged): the benchmark fits them once
    fit_of: ClassVar[str | None] = None

    @classmethod
    def create(
        cls, params: Mapping[str, Any] | None = None, *, seed: int = 42, vocab_size: int | None = None
    ) -> Detector:
        """A detector from plain parameters (CLI, benchmark, tests). Most detectors learn the
        vocabulary in `fit`; one that sizes its network up front overrides this."""
        factory: Callable[..., Detector] = cls  # every concrete detector takes its parameters and a seed
        return factory(**dict(params or {}), seed=seed)

    @classmethod
    def effective_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """`params` with every default the detector would fill in, so that two parameter sets can
        be compared (the ablation's "same row" check). Without known defaults: `params` as given."""
        return dict(params)

    @abstractmethod
    def fit(
        self,
        train: SequenceSet,
        train_labels: np.ndarray | None = None,
        validation: SequenceSet | None = None,
        validation_labels: np.ndarray | None = None,
    ) -> Detector:
        """Learn from the training period; `validation` serves model selection only."""

    def learn_new_users(self, seqs: SequenceSet, labels: np.ndarray) -> int:
        """After every validation choice is made: let the users this detector has never seen (those
        held out for validation) count the normal events of `seqs` (per-position `labels`) as
        their own history, where the detector keeps one (`models.user_history`); returns how many
        users it learned. Default: none, for a detector without per-user state."""
        return 0

    def fit_summary(self) -> dict[str, Any]:
        """What the last `fit` chose that a results table should record (e.g. a rule picked on
        validation); empty when nothing."""
        return {}

    def score_activities(self, seqs: SequenceSet) -> np.ndarray:
        raise NotImplementedError(f"{self.name} does not score single activities")

    def stream_scorer(self) -> StreamScorer | None:
        """A fresh incremental scorer equal to `score_activities` (None: no live scoring)."""
        return None

    @property
    def scores_are_probabilities(self) -> bool:
        """Whether activity scores are 1 − P(observed) (next-activity models say so)."""
        return False

    def sequence_scores(self, seqs: SequenceSet, activity_scores: np.ndarray) -> np.ndarray:
        """The default post-hoc score from a sequence's activity scores: the mean of its 3 highest
        surprisals −log P where scores are 1 − P (their mean barely tells 0.99 from 0.9999, two
        orders of magnitude of surprise), of its 3 highest activity scores otherwise.

        A single very unlikely activity and a run of unlikely ones both lift it, while one noisy
        activity in a long session lifts it less than `max` would.
        """
        evidence = surprisal(activity_scores) if self.scores_are_probabilities else activity_scores
        return aggregate_activity_scores(seqs, evidence)

    def score_sequences(self, seqs: SequenceSet) -> np.ndarray:
        """Default post-hoc score: `sequence_scores` of the sequence's real-time scores."""
        return self.sequence_scores(seqs, self.score_activities(seqs))

    def save(self, path: str | Path) -> None:
        raise NotImplementedError(f"{self.name} cannot be saved")

    @classmethod
    def load(cls, path: str | Path) -> Detector:
        raise NotImplementedError(f"{cls.name} cannot be loaded")


def aggregate_activity_scores(seqs: SequenceSet, scores: np.ndarray, top: int = 3) -> np.ndarray:
    """Per sequence: mean of its `top` highest non-NaN activity scores (0 if it has none)."""
    out = np.zeros(len(seqs), dtype=np.float64)
    for s in range(len(seqs)):
        v = scores[seqs.offsets[s] : seqs.offsets[s + 1]]
        v = v[~np.isnan(v)]
        if v.size:
            k = min(top, v.size)
            out[s] = np.partition(v, v.size - k)[v.size - k :].mean()
    return out
