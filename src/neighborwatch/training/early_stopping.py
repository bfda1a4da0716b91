"""Early stopping on a validation metric (higher is better) with an in-memory best checkpoint."""

from __future__ import annotations

import copy
import math
from typing import Any


class EarlyStopping:
    """Remembers the best epoch's checkpoint; stops after `patience` epochs without improvement."""

    def __init__(self, patience: int, min_delta: float = 0.0) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.best: float = -math.inf
        self.best_epoch: int = -1
        self.checkpoint: Any = None
        self.stale = 0

    def update(self, epoch: int, metric: float, checkpoint: Any) -> bool:
        """Record an epoch; returns True when it is the new best (its checkpoint is deep-copied)."""
        if math.isnan(metric):
            metric = -math.inf
        if metric > self.best + self.min_delta or self.best_epoch < 0:
            self.best, self.best_epoch, self.stale = metric, epoch, 0
            self.checkpoint = copy.deepcopy(checkpoint)
            return True
        self.stale += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.stale >= self.patience
