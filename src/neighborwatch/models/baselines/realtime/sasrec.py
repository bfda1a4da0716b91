"""SASRec / causal Transformer (Kang & McAuley, ICDM 2018) — the paper's "Transformer" baseline.

Token embedding + learned absolute position embedding over the last W = 20 activities, 2
self-attention blocks (1 head, as SASRec; width 64, GELU feed-forward ×4, dropout 0.2) with a
causal mask, final LayerNorm; the output at the last activity predicts the next one; score =
1 - P(observed | prefix).
Simplifications: pre-LayerNorm blocks (SASRec normalises the queries and re-normalises after
each sub-layer); full-softmax cross-entropy over the 169 classes instead of SASRec's binary
cross-entropy with one sampled negative (there are only 169 items); a separate output layer
instead of the shared item embedding. The causal mask is kept although only the last output is
used, so each position's representation is SASRec's; padding keys are masked.
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
from neighborwatch.models.baselines._tensors import last_position
from neighborwatch.models.baselines.realtime._layers import (
    PositionalEmbedding,
    SelfAttentionBlock,
    attention_mask,
)
from neighborwatch.models.manifest import register


class CausalTransformer(NextActivityNet):
    def __init__(self, vocab_size: int, window: int, dim: int, blocks: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.embed = PositionalEmbedding(vocab_size, dim, window, dropout)
        self.blocks = nn.ModuleList(SelfAttentionBlock(dim, heads, dropout) for _ in range(blocks))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        x, mask = self.embed(windows), attention_mask(windows, causal=True)
        for block in self.blocks:
            x = block(x, mask)
        return self.head(last_position(self.norm(x)))


@dataclass(frozen=True)
class SASRecConfig(NextActivityConfig):
    embed_dim: int = 64
    blocks: int = 2
    heads: int = 1
    dropout: float = 0.2


@register
class SASRec(NextActivityDetector):
    name: ClassVar[str] = "sasrec"
    Config = SASRecConfig

    def build_net(self, vocab_size: int) -> NextActivityNet:
        c = self.config
        return CausalTransformer(vocab_size, c.window, c.embed_dim, c.blocks, c.heads, c.dropout)
