"""Early stopping on a validation metric with an in-memory checkpoint of the best epoch."""

from __future__ import annotations

import copy
import math
from typing import Any

MODES = ("max", "min")


class EarlyStopping:
    """Remembers the best epoch's checkpoint; stops after `patience` epochs without improvement
    (patience <= 0 = never stop early, only keep the best). `mode` "max": higher is better (LAN's
    validation AUC); "min": lower is better (a validation loss). An improvement must beat the
    best by more than `min_delta`; NaN never improves."""

    def __init__(self, patience: int, min_delta: float = 0.0, mode: str = "max") -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if min_delta < 0:
            raise ValueError("min_delta must be >= 0")
        self.patience = patience
        self.min_delta = min_delta
        self.mode = mode
        self.best: float = -math.inf if mode == "max" else math.inf
        self.best_epoch: int = -1
        self.checkpoint: Any = None
        self.stale = 0

    def improves(self, metric: float) -> bool:
        if math.isnan(metric):
            return False
        if self.mode == "max":
            return metric > self.best + self.min_delta
        return metric < self.best - self.min_delta

    def update(self, epoch: int, metric: float, checkpoint: Any) -> bool:
        """Record an epoch; returns True when it is the new best (its checkpoint is deep-copied)."""
        if self.improves(metric) or self.best_epoch < 0:
            worst = -math.inf if self.mode == "max" else math.inf
            self.best, self.best_epoch, self.stale = worst if math.isnan(metric) else metric, epoch, 0
            self.checkpoint = copy.deepcopy(checkpoint)
            return True
        self.stale += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.stale >= self.patience
