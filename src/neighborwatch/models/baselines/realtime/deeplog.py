"""DeepLog (Du, Li, Zheng, Srikumar, CCS 2017): a stacked LSTM that predicts the next log key
from the window of the last h keys; an observed key is normal iff it is among the g most likely.

As published: 2 LSTM layers of 64 units, window h = 10, softmax over all keys, trained on normal
sequences only. Scores (`score=`):
* `"prob"` (default, used in the tables): 1 - P(observed key | last h keys) — a graded version
  of the top-g rule that ROC-AUC can rank;
* `"topg"`: DeepLog's own decision as a score — 1.0 if the observed key is not among the top
  `top_g` predictions, else 0.0 (g = 9, the paper's HDFS setting);
* `"rank"`: the observed key's rank among all predictions / (vocab - 1): the smallest g for which
  the top-g rule would accept it, normalised to [0, 1].
Simplifications: keys enter through a learned embedding (64) instead of the raw key value; the
parameter-value and workflow models of DeepLog are not used (activities here have no
parameters). Windows shorter than h (the first activities of a session) are left-padded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from neighborwatch.models.baselines._nextactivity import (
    NextActivityConfig,
    NextActivityDetector,
    NextActivityNet,
)
from neighborwatch.models.baselines.realtime._layers import RecurrentNet
from neighborwatch.models.manifest import register

SCORES = ("prob", "topg", "rank")


@dataclass(frozen=True)
class DeepLogConfig(NextActivityConfig):
    window: int = 10
    embed_dim: int = 64
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.0
    score: str = "prob"
    top_g: int = 9

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.score not in SCORES:
            raise ValueError(f"deeplog score must be one of {SCORES}, got {self.score!r}")
        if int(self.top_g) < 1:
            raise ValueError("top_g must be >= 1")


@register
class DeepLog(NextActivityDetector):
    name: ClassVar[str] = "deeplog"
    Config = DeepLogConfig

    def build_net(self, vocab_size: int) -> NextActivityNet:
        c = self.config
        return RecurrentNet(vocab_size, "lstm", c.embed_dim, c.hidden, c.layers, c.dropout)

    def scores_from_logits(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        mode = self.config.score
        if mode == "prob":
            return super().scores_from_logits(logits, targets)
        observed = logits.gather(1, targets[:, None])
        rank = (logits > observed).sum(dim=1).to(torch.float64)  # 0 = the most likely key
        if mode == "topg":
            return (rank >= int(self.config.top_g)).to(torch.float64)
        return rank / max(logits.shape[1] - 1, 1)
