"""Gradient-boosted trees on per-sequence count features, SUPERVISED with the training labels.

Why it is here: an independent reproduction of ITDBERT found a feature model of this kind
beating the deep one (LAN.md §7), so the comparison needs it. It is, with `itdbert`, one of the
two baselines that read training labels (the supervised part of training, which the detector
contract allows in `fit`): a training sequence is positive iff it contains a malicious activity.
The classes are balanced with `class_weight="balanced"` (malicious sequences are well under 1 %
in CERT). Validation is not used for early stopping (a fixed number of boosting rounds keeps it
deterministic and leaves validation for threshold selection). Score = predicted probability of
the malicious class. Fitting fails with a clear error when the training period holds no
malicious sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from neighborwatch.models.baselines.posthoc._featurebase import FeatureConfig, FeatureDetector
from neighborwatch.models.manifest import register


@dataclass(frozen=True)
class GBTConfig(FeatureConfig):
    max_iter: int = 200
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    l2_regularization: float = 1.0


def boosted_classifier(c: GBTConfig) -> HistGradientBoostingClassifier:
    """The seeded, class-balanced estimator of this row (post-hoc LAN's head uses the same one)."""
    return HistGradientBoostingClassifier(
        max_iter=c.max_iter,
        learning_rate=c.learning_rate,
        max_leaf_nodes=c.max_leaf_nodes,
        l2_regularization=c.l2_regularization,
        class_weight="balanced",
        early_stopping=False,
        random_state=c.seed,
    )


@register
class GBT(FeatureDetector):
    name = "gbt"
    presets = {"fast": {"max_iter": 50}}
    Config = GBTConfig
    config: GBTConfig
    supervised = True

    def _make(self) -> Any:
        return boosted_classifier(self.config)

    def _decision(self, x: np.ndarray) -> np.ndarray:
        return self.estimator.predict_proba(x)[:, 1]
