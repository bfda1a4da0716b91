"""FMLP-Rec (Zhou, Yu, Zhao, Wen, WWW 2022): an all-MLP sequential recommender whose token mixer
is a learnable filter in the frequency domain.

As published: token + learned position embedding → LayerNorm → dropout, then L blocks of
  filter layer: X̃ = irfft(W ⊙ rfft(X, along the sequence, norm="ortho")), W a learnable complex
                weight per frequency and channel, → dropout → LayerNorm(X̃ + X);
  feed-forward: Linear(d, 4d) → GELU → Linear(4d, d) → dropout → LayerNorm(· + input);
the output at the last position predicts the next activity; score = 1 - P(observed | prefix).
Sizes for CPU: width 64, 2 blocks, W = 20 positions.

Causality: an FFT filter is a circular convolution over the whole window, so applied to a
session at once it would let position t see activities after t. We therefore run it on each
prefix window separately — the window for activity i holds only the W activities before i
(left-padded) — and read the last position: the filter mixes only the past. This is how the
sequential recommender itself is used (one window per prediction), and it costs one forward pass
per scored activity, batched.
Simplifications: full-softmax cross-entropy instead of FMLP-Rec's pairwise loss with one sampled
negative; a separate output layer instead of the shared item embedding.
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
from neighborwatch.models.baselines.realtime._layers import PositionalEmbedding
from neighborwatch.models.manifest import register


class FilterLayer(nn.Module):
    def __init__(self, length: int, dim: int, dropout: float) -> None:
        super().__init__()
        self.length = length
        self.weight = nn.Parameter(torch.randn(length // 2 + 1, dim, 2) * 0.02)  # complex as (re, im)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft(x, dim=1, norm="ortho") * torch.view_as_complex(self.weight)
        filtered = torch.fft.irfft(spectrum, n=self.length, dim=1, norm="ortho")
        return self.norm(self.drop(filtered) + x)


class FeedForward(nn.Module):
    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(dropout))
        self.norm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.net(x) + x)


class FilterMLP(NextActivityNet):
    def __init__(self, vocab_size: int, window: int, dim: int, blocks: int, dropout: float) -> None:
        super().__init__()
        self.embed = PositionalEmbedding(vocab_size, dim, window, 0.0)
        self.norm = nn.LayerNorm(dim, eps=1e-12)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(
            *[nn.Sequential(FilterLayer(window, dim, dropout), FeedForward(dim, dropout)) for _ in range(blocks)]
        )
        self.head = nn.Linear(dim, vocab_size)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.drop(self.norm(self.embed(windows))))
        return self.head(last_position(x))


@dataclass(frozen=True)
class FMLPRecConfig(NextActivityConfig):
    embed_dim: int = 64
    blocks: int = 2
    dropout: float = 0.2


@register
class FMLPRec(NextActivityDetector):
    name: ClassVar[str] = "fmlprec"
    Config = FMLPRecConfig

    def build_net(self, vocab_size: int) -> NextActivityNet:
        c = self.config
        return FilterMLP(vocab_size, c.window, c.embed_dim, c.blocks, c.dropout)
