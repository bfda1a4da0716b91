"""LSTM next-activity predictor = LAN without retrieval and graph (LAN.md §3.1 + §3.5).

LAN's own sequence encoder and pooling, imported from `neighborwatch.models.lan` so the ablation
differs from LAN in nothing but the neighbours: embedding → 2-layer LSTM (dropout 0.3) →
LayerNorm → last-position attention pooling (the last hidden state queries a multi-head
attention over the prefix's hidden states) → linear head over all classes; score =
1 - P(observed | prefix). What it measures: what retrieval and the graph add.
Differences from LAN, for CPU and for a label-free baseline: width 64 and 4 heads (LAN: 128
and 8, settable), the prefix capped at the last W = 32 activities (LAN: the whole prefix), and
plain next-activity cross-entropy on normal targets instead of LAN's hybrid loss.
The shared trainer hands out left-padded windows; LAN's encoder wants right padding (padding
after the prefix never touches valid positions), so each window is rotated first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from neighborwatch.models.baselines._nextactivity import (
    NextActivityConfig,
    NextActivityDetector,
    NextActivityNet,
)
from neighborwatch.models.baselines._tensors import right_pad
from neighborwatch.models.lan.config import LANConfig
from neighborwatch.models.lan.encoder import SequenceEncoder
from neighborwatch.models.lan.pooling import AttentionPooling
from neighborwatch.models.manifest import register


class LANEncoderNet(NextActivityNet):
    shares_prefixes = True  # LAN's encoder and pooling are causal (`AttentionPooling.causal`)

    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, layers: int, heads: int, dropout: float) -> None:
        super().__init__()
        cfg = LANConfig(
            vocab_size=vocab_size,
            encoder="lstm",
            embed_dim=embed_dim,
            hidden=hidden,
            layers=layers,
            dropout=dropout,
            pooling="attention",
            attention_heads=heads,
        )
        self.encoder = SequenceEncoder(cfg)
        self.pooling = AttentionPooling(hidden, heads)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        tokens, lengths = right_pad(windows)
        return self.head(self.pooling.last(self.encoder(tokens), lengths))

    def prefix_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.pooling.causal(self.encoder(tokens)))


@dataclass(frozen=True)
class LSTMConfig(NextActivityConfig):
    window: int = 32
    embed_dim: int = 64
    hidden: int = 64
    layers: int = 2
    heads: int = 4
    dropout: float = 0.3


@register
class LSTMNextActivity(NextActivityDetector):
    name: ClassVar[str] = "lstm"
    Config = LSTMConfig

    def build_net(self, vocab_size: int) -> NextActivityNet:
        c = self.config
        return LANEncoderNet(vocab_size, c.embed_dim, c.hidden, c.layers, c.heads, c.dropout)
