"""GRU4Rec-style next-activity predictor (Hidasi, Karatzoglou, Baltrunas, Tikk, ICLR 2016).

A GRU layer (100 units) over the session, the hidden state of the last activity → a score for
every item; score = 1 - P(observed | prefix).
Simplifications: the last W = 20 activities instead of the whole session carried by
session-parallel mini-batches (equivalent for short sessions, bounded cost for long ones); a
learned embedding instead of one-hot input (an option of the original); full-softmax
cross-entropy instead of TOP1/BPR with sampled negatives (the catalogue here has 169 items, so
sampling buys nothing; cross-entropy is one of GRU4Rec's published losses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from neighborwatch.models.baselines._nextactivity import (
    NextActivityConfig,
    NextActivityDetector,
    NextActivityNet,
)
from neighborwatch.models.baselines.realtime._layers import RecurrentNet
from neighborwatch.models.manifest import register


@dataclass(frozen=True)
class GRU4RecConfig(NextActivityConfig):
    embed_dim: int = 64
    hidden: int = 100
    layers: int = 1
    dropout: float = 0.2


@register
class GRU4Rec(NextActivityDetector):
    name: ClassVar[str] = "gru4rec"
    Config = GRU4RecConfig

    def build_net(self, vocab_size: int) -> NextActivityNet:
        c = self.config
        return RecurrentNet(vocab_size, "gru", c.embed_dim, c.hidden, c.layers, c.dropout)
