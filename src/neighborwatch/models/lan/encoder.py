"""Sequence encoder: embedding → causal sequence model → LayerNorm, one hidden state per position.

Every encoder here is causal (unidirectional RNN, or a Transformer with a causal mask), so the
hidden states of a prefix `h[:i]` are exactly the first `i` hidden states of the whole session.
Batch scoring and pool building exploit this: one pass per session yields every prefix. Right
padding never influences valid positions, so no packing is needed.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from neighborwatch.models.lan.config import LANConfig

_RNNS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class SinusoidalPositions(nn.Module):
    """Fixed sin/cos position encodings (Vaswani et al.), added to the token embeddings."""

    table: torch.Tensor  # a non-persistent buffer

    def __init__(self, dim: int, max_len: int = 4096) -> None:
        super().__init__()
        self.dim = dim
        self.register_buffer("table", self._table(max_len), persistent=False)

    def _table(self, n: int) -> torch.Tensor:
        pos = torch.arange(n, dtype=torch.float32)[:, None]
        div = torch.exp(torch.arange(0, self.dim, 2, dtype=torch.float32) * (-math.log(10_000.0) / self.dim))
        table = torch.zeros(n, self.dim)
        table[:, 0::2] = torch.sin(pos * div)
        table[:, 1::2] = torch.cos(pos * div[: self.dim // 2])
        return table

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        end = start + x.shape[1]
        if end > self.table.shape[0]:  # grow on demand for very long sessions
            self.table = self._table(2 * end).to(self.table.device)
        return x + self.table[start:end]


class SequenceEncoder(nn.Module):
    def __init__(self, cfg: LANConfig) -> None:
        super().__init__()
        self.kind = cfg.encoder
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=0)
        if cfg.encoder in _RNNS:
            self.rnn = _RNNS[cfg.encoder](
                cfg.embed_dim,
                cfg.hidden,
                num_layers=cfg.layers,
                batch_first=True,
                dropout=cfg.dropout if cfg.layers > 1 else 0.0,
            )
        else:
            self.positions = SinusoidalPositions(cfg.hidden)
            layer = nn.TransformerEncoderLayer(
                cfg.hidden,
                cfg.transformer_heads,
                dim_feedforward=4 * cfg.hidden,
                dropout=cfg.dropout,
                batch_first=True,
            )
            self.transformer = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.hidden)

    @property
    def recurrent(self) -> bool:
        return self.kind in _RNNS

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """tokens [B, T] (right-padded with 0) → hidden states [B, T, H] (padding rows: garbage).

        With `lengths`, recurrent encoders run packed: padding costs nothing, which matters for
        batches of random prefixes whose longest is several times the average.
        """
        x = self.embedding(tokens)
        if self.recurrent and lengths is not None:
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.rnn(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        elif self.recurrent:
            out, _ = self.rnn(x)
        else:
            t = tokens.shape[1]
            mask = torch.triu(torch.ones(t, t, dtype=torch.bool, device=tokens.device), diagonal=1)
            out = self.transformer(self.positions(x), mask=mask, is_causal=True)
        return self.norm(out)

    def encode_step(self, tokens_t: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """One new activity per row: tokens_t [B] → (hidden_t [B, H], new state).

        Recurrent encoders carry their (h[, c]) state: O(1) per event, the streaming path. The
        Transformer has no recurrent state; its state is the token history [B, t] and each step
        re-runs the causal pass (O(t)); it gives the same hidden states, only slower.
        """
        if self.recurrent:
            out, new_state = self.rnn(self.embedding(tokens_t[:, None]), state)
            return self.norm(out[:, 0]), new_state
        history = tokens_t[:, None] if state is None else torch.cat([state, tokens_t[:, None]], dim=1)
        return self.forward(history)[:, -1], history
