"""RNN post-hoc scorer: a GRU next-activity language model, score = sequence surprise.

The LAN paper's post-hoc "RNN" baseline is not specified further; this is the usual
unsupervised reading: a GRU (embedding 32, hidden 64, the previous W = 20 activities) learns
P(next activity | prefix) on the normal training activities (positions whose target is labelled
malicious are left out, as in every next-activity baseline), and a finished sequence scores the
mean of its 3 highest negative log-likelihoods `−log P(a_i | a_<i)`. The top-3 mean is the same
reduction LAN's own post-hoc score uses (`models.base.aggregate_activity_scores`), so the two
are compared like for like; NLL instead of `1 − P` keeps rare-but-not-impossible activities
apart at the top of the range.

Training, windows, early stopping on validation and save/load are the shared next-activity
machinery of the real-time baselines (`baselines._nextactivity`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from neighborwatch.models.base import SEQUENCE
from neighborwatch.models.baselines._nextactivity import (
    NextActivityConfig,
    NextActivityDetector,
    NextActivityNet,
)
from neighborwatch.models.baselines.realtime._layers import RecurrentNet
from neighborwatch.models.manifest import register


@dataclass(frozen=True)
class RNNPosthocConfig(NextActivityConfig):
    embed_dim: int = 32
    hidden: int = 64
    layers: int = 1
    dropout: float = 0.1


@register
class RNNPosthoc(NextActivityDetector):
    name: ClassVar[str] = "rnn_posthoc"
    levels: ClassVar[frozenset[str]] = frozenset({SEQUENCE})
    Config = RNNPosthocConfig

    def build_net(self, vocab_size: int) -> NextActivityNet:
        c = self.config
        return RecurrentNet(vocab_size, "gru", c.embed_dim, c.hidden, c.layers, c.dropout)

    @property
    def scores_are_probabilities(self) -> bool:
        return False  # already −log P

    def scores_from_logits(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of each observed activity."""
        return -torch.log_softmax(logits, dim=-1).gather(1, targets[:, None])[:, 0]
