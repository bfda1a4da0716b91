"""Pooling a prefix's hidden states into one vector: last-position attention (paper) or mean.

Each pooling has two entry points that give the same numbers:
* `last(hidden, lengths)`: one prefix per row, pooled at its last valid position (the paper's
  view; also what a streaming scorer calls with a window of recent hidden states);
* `causal(hidden)`: every position of every row at once, position i pooling h[:i+1] (one session
  pass → the vectors of all its prefixes).
`window` (config.attention_window, 0 = unlimited) restricts both to the W most recent states.
"""

from __future__ import annotations

import torch
from torch import nn


def _window_mask(t: int, window: int, device: torch.device) -> torch.Tensor:
    """[T, T] bool, True where position i may NOT look at j (future, or older than the window)."""
    i = torch.arange(t, device=device)[:, None]
    j = torch.arange(t, device=device)[None, :]
    blocked = j > i
    if window:
        blocked |= j <= i - window
    return blocked


def _prefix_key_mask(lengths: torch.Tensor, t: int, window: int) -> torch.Tensor:
    """[B, T] bool, True at positions outside each row's (windowed) prefix."""
    j = torch.arange(t, device=lengths.device)[None, :]
    blocked = j >= lengths[:, None]
    if window:
        blocked |= j < (lengths[:, None] - window)
    return blocked


class AttentionPooling(nn.Module):
    """The last valid hidden state queries a multi-head attention over the prefix's states."""

    def __init__(self, hidden: int, heads: int, window: int = 0) -> None:
        super().__init__()
        self.window = window
        self.attention = nn.MultiheadAttention(hidden, heads, batch_first=True)

    def last(self, hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        query = hidden[torch.arange(hidden.shape[0], device=hidden.device), lengths - 1][:, None]
        mask = _prefix_key_mask(lengths, hidden.shape[1], self.window)
        out, _ = self.attention(query, hidden, hidden, key_padding_mask=mask, need_weights=False)
        return out[:, 0]

    def causal(self, hidden: torch.Tensor) -> torch.Tensor:
        mask = _window_mask(hidden.shape[1], self.window, hidden.device)
        out, _ = self.attention(hidden, hidden, hidden, attn_mask=mask, need_weights=False)
        return out


class MeanPooling(nn.Module):
    """Average of the prefix's (windowed) hidden states."""

    def __init__(self, window: int = 0) -> None:
        super().__init__()
        self.window = window

    def last(self, hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        keep = ~_prefix_key_mask(lengths, hidden.shape[1], self.window)
        keep = keep.to(hidden.dtype)[..., None]
        return (hidden * keep).sum(1) / keep.sum(1)

    def causal(self, hidden: torch.Tensor) -> torch.Tensor:
        keep = (~_window_mask(hidden.shape[1], self.window, hidden.device)).to(hidden.dtype)
        return (keep @ hidden) / keep.sum(1)[None, :, None]


def make_pooling(kind: str, hidden: int, heads: int, window: int) -> AttentionPooling | MeanPooling:
    if kind == "attention":
        return AttentionPooling(hidden, heads, window)
    if kind == "mean":
        return MeanPooling(window)
    raise ValueError(f"unknown pooling {kind!r}")
