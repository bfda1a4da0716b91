"""LogBERT-style masked model used causally (Guo, Yuan, Wu, IJCNN 2021).

LogBERT trains a bidirectional Transformer encoder on normal log-key sequences with masked
log-key prediction (MLKP) and flags a sequence whose masked keys are not among the model's top
candidates. Here it scores single activities in real time:

* Input: the W = 20 activities before activity i (left-padded), followed by one [MASK] token
  at the position of activity i. The encoder is bidirectional, but the window holds only the
  prefix and the mask, so nothing after i is ever visible — this is the causal adaptation.
* Score: 1 - P(observed activity at the [MASK] | prefix).
* Training (self-supervised, normal targets): the same windows, with loss = cross-entropy at the
  final [MASK] plus MLKP on the context: 15 % of the real context activities are replaced by
  [MASK] (seeded) and predicted as well, as in BERT/LogBERT.
Sizes: width 64, 2 blocks, 2 heads, learned positions. Simplifications: no [DIST] token and no
hypersphere (VHM) loss, no 80/10/10 replacement rule (masked = [MASK]); the score is the
probability of the observed key rather than LogBERT's top-g count over a sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
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


class MaskedEncoder(NextActivityNet):
    def __init__(
        self, vocab_size: int, window: int, dim: int, blocks: int, heads: int, dropout: float, mask_ratio: float
    ) -> None:
        super().__init__()
        self.mask_id = vocab_size  # one extra input token; never an output class
        self.mask_ratio = mask_ratio
        self.embed = PositionalEmbedding(vocab_size + 1, dim, window + 1, dropout)
        self.blocks = nn.ModuleList(SelfAttentionBlock(dim, heads, dropout) for _ in range(blocks))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size)

    def encode(self, windows: torch.Tensor) -> torch.Tensor:
        """[B, W] context → hidden [B, W+1, d] of context + the appended [MASK]."""
        x = torch.cat([windows, torch.full_like(windows[:, :1], self.mask_id)], dim=1)
        h, mask = self.embed(x), attention_mask(x, causal=False)
        for block in self.blocks:
            h = block(h, mask)
        return self.norm(h)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.head(last_position(self.encode(windows)))

    def loss(self, windows: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        masked = (torch.rand(windows.shape, device=windows.device) < self.mask_ratio) & (windows != 0)
        h = self.encode(torch.where(masked, torch.full_like(windows, self.mask_id), windows))
        loss = F.cross_entropy(self.head(last_position(h)), targets)
        if masked.any():
            loss = loss + F.cross_entropy(self.head(h[:, :-1][masked]), windows[masked])
        return loss


@dataclass(frozen=True)
class LogBERTConfig(NextActivityConfig):
    embed_dim: int = 64
    blocks: int = 2
    heads: int = 2
    dropout: float = 0.1
    mask_ratio: float = 0.15


@register
class LogBERT(NextActivityDetector):
    name: ClassVar[str] = "logbert"
    Config = LogBERTConfig

    def build_net(self, vocab_size: int) -> NextActivityNet:
        c = self.config
        return MaskedEncoder(vocab_size, c.window, c.embed_dim, c.blocks, c.heads, c.dropout, c.mask_ratio)
