"""Local Outlier Factor (Breunig et al., SIGMOD 2000) on standardised per-sequence features.

An extra PyOD-style detector: novelty mode (fitted on all training sequences, labels ignored), score
= the negated `score_samples` (higher = more anomalous). The training rows are capped (seeded
subsample, `max_train`) because LOF's neighbour search grows with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neighborwatch.models.baselines.posthoc._featurebase import FeatureConfig, FeatureDetector
from neighborwatch.models.manifest import register


@dataclass(frozen=True)
class LOFConfig(FeatureConfig):
    n_neighbors: int = 20
    max_train: int = 20_000


@register
class LOF(FeatureDetector):
    name = "lof"
    presets = {"fast": {"max_train": 5_000}}
    Config = LOFConfig
    config: LOFConfig

    def _make(self) -> Any:
        return make_pipeline(StandardScaler(), LocalOutlierFactor(n_neighbors=self.config.n_neighbors, novelty=True))

    def _decision(self, x: np.ndarray) -> np.ndarray:
        return -self.estimator.score_samples(x)
