"""Isolation Forest (Liu, Ting, Zhou, ICDM 2008) on per-sequence count features.

A stand-in the LAN paper's "other PyOD-style detectors" line allows: unsupervised, fitted on
all training sequences (labels ignored; see `_featurebase`), score = the negated scikit-learn `score_samples` (the
average path length turned into an anomaly score; higher = more anomalous). Features:
`posthoc.features`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import IsolationForest

from neighborwatch.models.baselines.posthoc._featurebase import FeatureConfig, FeatureDetector
from neighborwatch.models.manifest import register


@dataclass(frozen=True)
class IForestConfig(FeatureConfig):
    n_estimators: int = 200
    max_samples: int = 256  # the paper's subsample size ψ


@register
class IForestSeq(FeatureDetector):
    name = "iforest_seq"
    presets = {"fast": {"n_estimators": 50}}
    Config = IForestConfig
    config: IForestConfig

    def _make(self) -> Any:
        return IsolationForest(
            n_estimators=self.config.n_estimators,
            max_samples=self.config.max_samples,
            random_state=self.config.seed,
            n_jobs=1,
        )

    def _decision(self, x: np.ndarray) -> np.ndarray:
        return -self.estimator.score_samples(x)
