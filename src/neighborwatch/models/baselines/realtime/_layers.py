"""Network pieces shared by several real-time baselines (so the baselines differ only where the
published models differ).

* `RecurrentNet`: embedding → RNN/GRU/LSTM → hidden state of the last activity → linear head.
  DeepLog (LSTM), the vanilla RNN and GRU4Rec (GRU) are this network with another cell.
* `SelfAttentionBlock` + `attention_mask`: a pre-LayerNorm Transformer block over a boolean
  mask, used causally by SASRec and bidirectionally by the LogBERT-style model.

Windows arrive left-padded with token 0 (see `_nextactivity`). Recurrent nets rotate them to
right padding (`right_pad`) and read the state at the last real activity, so padding never
enters a recurrent state; attention masks never let a real activity attend to padding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neighborwatch.models.baselines._nextactivity import NextActivityNet
from neighborwatch.models.baselines._tensors import last_state, padding_mask, right_pad

CELLS: dict[str, type[nn.RNN] | type[nn.GRU] | type[nn.LSTM]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class RecurrentNet(NextActivityNet):
    shares_prefixes = True  # the state after activity t depends on activities <= t only

    def __init__(self, vocab_size: int, cell: str, embed_dim: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown recurrent cell {cell!r}; choose from {sorted(CELLS)}")
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.rnn = CELLS[cell](
            embed_dim, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        tokens, lengths = right_pad(windows)
        hidden, _ = self.rnn(self.embed(tokens))
        return self.head(self.drop(last_state(hidden, lengths)))

    def prefix_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.rnn(self.embed(tokens))
        return self.head(self.drop(hidden))


def attention_mask(windows: torch.Tensor, causal: bool) -> torch.Tensor:
    """bool [B, 1, W, W], True = may attend. Keys that are padding are hidden from every query
    except themselves (so no row is empty and no NaN appears); `causal` also hides the future."""
    w = windows.shape[1]
    real = padding_mask(windows)
    allowed = real[:, None, :].expand(-1, w, -1) | torch.eye(w, dtype=torch.bool, device=windows.device)
    if causal:
        allowed = allowed & torch.ones(w, w, dtype=torch.bool, device=windows.device).tril()
    return allowed[:, None]


class SelfAttentionBlock(nn.Module):
    """x + MHA(LN(x)) then x + FFN(LN(x)) — the pre-LN Transformer block."""

    def __init__(self, dim: int, heads: int, dropout: float, ff_mult: int = 4) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"embedding size {dim} must be divisible by heads {heads}")
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(
            nn.Linear(dim, ff_mult * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_mult * dim, dim)
        )
        self.drop = nn.Dropout(dropout)
        self.p = dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, w, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, w, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.p if self.training else 0.0)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(b, w, d)))
        return x + self.drop(self.ff(self.norm2(x)))


class PositionalEmbedding(nn.Module):
    """Token embedding + learned absolute position embedding (SASRec, BERT, FMLP-Rec)."""

    def __init__(self, vocab_size: int, dim: int, length: int, dropout: float) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.positions = nn.Embedding(length, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(windows.shape[1], device=windows.device)
        return self.drop(self.tokens(windows) + self.positions(pos)[None])
