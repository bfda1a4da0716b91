"""Base of the scikit-learn post-hoc baselines on per-sequence count features.

Unsupervised detectors are fitted PyOD-style on every training sequence, labels ignored. (Fitting
them on the normal sequences only was tried and is worse: an Isolation Forest cannot split on a
feature that is constant in its training data, so an activity kind that only insiders show —
e.g. a removable-device connect in the toy data — would never isolate anything; with the few
malicious sequences present the feature varies. Toy benchmark AUC 0.99 vs 0.54.) Supervised
detectors use every training sequence with its label.

Persistence without pickle: scikit-learn estimators have no safe, stable export format, so a
saved model holds its hyper-parameters (detector.json) and the training feature matrix and
labels (`train.npz`, plain arrays); `load` refits the estimator with the same seed. Every
estimator used here is deterministic given data and seed, so the reloaded model scores
identically (tested); the cost is a refit at load time (seconds at session-feature scale).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from neighborwatch.models.base import SEQUENCE, Detector, NotFittedError
from neighborwatch.models.baselines.posthoc.features import feature_names, sequence_features
from neighborwatch.models.manifest import read_manifest, write_manifest
from neighborwatch.models.options import DetectorConfig, configure, known_part
from neighborwatch.sequences.base import SequenceSet, sequence_labels

TRAIN_ARRAYS = "train.npz"


def training_sequence_labels(owner: str, train: SequenceSet, train_labels: np.ndarray | None) -> np.ndarray:
    """Per training sequence: malicious or not, for a detector that learns from sequence labels
    (a clear error without labels, or when one class is missing)."""
    if train_labels is None:
        raise ValueError(f"{owner} is supervised: fit needs the training labels")
    y = sequence_labels(train, np.asarray(train_labels, dtype=bool))
    if y.all() or not y.any():
        raise ValueError(
            f"{owner} is supervised and needs both normal and malicious training "
            f"sequences; got {int(y.sum())} malicious of {len(y)}"
        )
    return y


@dataclass(frozen=True)
class FeatureConfig(DetectorConfig):
    seed: int = 0
    #: cap on training rows (seeded subsample) so that refits stay cheap at CERT scale; 0 = all
    max_train: int = 200_000


class FeatureDetector(Detector):
    """Subclasses set `name`, `Config`, `supervised` and implement `_make` and `_decision`."""

    levels: ClassVar[frozenset[str]] = frozenset({SEQUENCE})
    Config: ClassVar[type[FeatureConfig]] = FeatureConfig
    supervised: ClassVar[bool] = False

    def __init__(self, config: FeatureConfig | None = None, **overrides: Any) -> None:
        self.config = configure(self.Config, config, overrides, self.name)
        self.estimator: Any = None
        self.vocab_size: int | None = None
        self._x: np.ndarray | None = None
        self._y: np.ndarray | None = None

    def _make(self) -> Any:
        """A fresh, seeded estimator."""
        raise NotImplementedError

    def _decision(self, x: np.ndarray) -> np.ndarray:
        """Higher = more anomalous."""
        raise NotImplementedError

    def fit(
        self,
        train: SequenceSet,
        train_labels: np.ndarray | None = None,
        validation: SequenceSet | None = None,
        validation_labels: np.ndarray | None = None,
    ) -> FeatureDetector:
        if len(train) == 0:
            raise ValueError(f"{self.name}: the training set has no sequences")
        x = sequence_features(train)
        y = training_sequence_labels(self.name, train, train_labels) if self.supervised else None
        cap = self.config.max_train
        if cap and len(x) > cap:
            rng = np.random.default_rng(self.config.seed)
            if y is not None:  # keep every malicious row, subsample the normal ones
                pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
                keep = np.sort(np.concatenate([pos, rng.choice(neg, max(cap - len(pos), 1), replace=False)]))
            else:
                keep = np.sort(rng.choice(len(x), cap, replace=False))
            x, y = x[keep], (y[keep] if y is not None else None)
        self.vocab_size = int(train.vocab_size)
        self._refit(x, y)
        return self

    def _refit(self, x: np.ndarray, y: np.ndarray | None) -> None:
        self._x, self._y = x, y
        self.estimator = self._make()
        if y is None:
            self.estimator.fit(x)
        else:
            self.estimator.fit(x, y)

    def score_sequences(self, seqs: SequenceSet) -> np.ndarray:
        if self.estimator is None:
            raise NotFittedError(self.name)
        if seqs.vocab_size != self.vocab_size:
            raise ValueError(f"{self.name} was fitted on vocab_size {self.vocab_size}, got {seqs.vocab_size}")
        if len(seqs) == 0:
            return np.zeros(0, dtype=np.float64)
        return np.asarray(self._decision(sequence_features(seqs)), dtype=np.float64)

    def save(self, path: str | Path) -> None:
        if self._x is None:
            raise NotFittedError(self.name, "save")
        path = Path(path)
        write_manifest(
            path,
            self.name,
            {**self.config.to_dict(), "vocab_size": self.vocab_size, "features": feature_names(self.vocab_size or 169)},
        )
        arrays: dict[str, np.ndarray] = {"x": self._x}
        if self._y is not None:
            arrays["y"] = self._y
        # numpy's stub lets **arrays fill its allow_pickle: bool
        np.savez_compressed(path / TRAIN_ARRAYS, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | Path) -> FeatureDetector:
        manifest = read_manifest(path, expect=cls.name)
        cfg = manifest["config"]
        det = cls(cls.Config.from_dict(known_part(cls.Config, cfg), cls.name))
        det.vocab_size = int(cfg["vocab_size"])
        with np.load(Path(path) / TRAIN_ARRAYS, allow_pickle=False) as z:
            x = z["x"]
            y = z["y"] if "y" in z.files else None
        det._refit(x, y)
        return det
