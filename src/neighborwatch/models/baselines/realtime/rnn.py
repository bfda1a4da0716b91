"""Vanilla RNN next-activity predictor (the "RNN" real-time baseline of the LAN paper).

One Elman layer (tanh, 64 units) over a learned embedding of the last W = 20 activities; the
last hidden state feeds a linear softmax head; score = 1 - P(observed | prefix). The paper does
not give its RNN's size; this is a small CPU-sized choice.
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
class RNNConfig(NextActivityConfig):
    embed_dim: int = 64
    hidden: int = 64
    layers: int = 1
    dropout: float = 0.1


@register
class VanillaRNN(NextActivityDetector):
    name: ClassVar[str] = "rnn"
    Config = RNNConfig

    def build_net(self, vocab_size: int) -> NextActivityNet:
        c = self.config
        return RecurrentNet(vocab_size, "rnn", c.embed_dim, c.hidden, c.layers, c.dropout)
