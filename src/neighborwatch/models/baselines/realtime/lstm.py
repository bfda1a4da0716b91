"""LSTM next-activity predictor = LAN without retrieval and graph (LAN.md §3.1 + §3.5).

LAN's sequence encoder and head with nothing in between: embedding → 2-layer LSTM (dropout
0.3) → LayerNorm → last-position attention pooling (the last hidden state is the query of a
multi-head attention over all hidden states of the prefix, padding masked) → linear head over
all classes; score = 1 - P(observed | prefix). The ablation isolates what neighbours add.
Differences from LAN's encoder, for CPU: width 64 and 4 heads (LAN: 128 and 8), and the prefix
is capped at the last W = 32 activities (LAN: the whole prefix); plain next-activity
cross-entropy on normal targets (LAN's hybrid loss needs labels). The encoder is built here
rather than imported from `neighborwatch.models.lan`, so the baseline does not change when LAN's
code does.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from neighborwatch.models.baselines._nextactivity import NextActivityDetector, NextActivityNet
from neighborwatch.models.registry import register


class AttentionPooledLSTM(NextActivityNet):
    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, layers: int, heads: int,
                 dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(embed_dim, hidden, num_layers=layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.norm = nn.LayerNorm(hidden)
        self.pool = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.embed(windows))
        h = self.norm(h)
        # the last column is always a real activity, so no query sees only padding
        pooled, _ = self.pool(h[:, -1:], h, h, key_padding_mask=windows == 0, need_weights=False)
        return self.head(self.drop(pooled[:, 0]))


@register
class LSTMNextActivity(NextActivityDetector):
    name: ClassVar[str] = "lstm"
    defaults: ClassVar[dict[str, Any]] = {
        "window": 32, "embed_dim": 64, "hidden": 64, "layers": 2, "heads": 4, "dropout": 0.3,
    }

    def build_net(self, vocab_size: int) -> NextActivityNet:
        c = self.config
        return AttentionPooledLSTM(vocab_size, c["embed_dim"], c["hidden"], c["layers"], c["heads"], c["dropout"])
