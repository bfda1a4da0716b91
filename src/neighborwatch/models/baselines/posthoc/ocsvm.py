"""One-class SVM (Schölkopf et al., 2001) with an RBF kernel on standardised per-sequence features.

An extra PyOD-style detector: fitted on all training sequences (labels ignored), score = the negated
decision function (higher = more anomalous). Kernel SVMs are quadratic in the training rows, so
these are capped by a seeded subsample (`max_train`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

from neighborwatch.models.baselines.posthoc._featurebase import FeatureConfig, FeatureDetector
from neighborwatch.models.manifest import register


@dataclass(frozen=True)
class OCSVMConfig(FeatureConfig):
    nu: float = 0.05
    gamma: str = "scale"
    max_train: int = 10_000


@register
class OCSVM(FeatureDetector):
    name = "ocsvm"
    presets = {"fast": {"max_train": 2_000}}
    Config = OCSVMConfig
    config: OCSVMConfig

    def _make(self) -> Any:
        return make_pipeline(StandardScaler(), OneClassSVM(nu=self.config.nu, gamma=self.config.gamma))

    def _decision(self, x: np.ndarray) -> np.ndarray:
        return -self.estimator.decision_function(x)
