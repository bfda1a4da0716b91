"""LSTM autoencoder: sequence → one vector → the sequence again; score = reconstruction error.

A stand-in for the LAN paper's unrecovered post-hoc baselines (LAN.md §7). The classic
sequence-to-sequence autoencoder (Srivastava et al. 2015; Malhotra et al. 2016 for anomaly
detection): an LSTM encoder reads the chunk and its final (hidden, cell) state is the code; the
decoder LSTM receives the code as its input at every step (the "repeat vector" decoder, no
teacher forcing — a decoder fed the true previous token would become a language model that can
ignore the code) and predicts the token at each position. Trained on the normal training chunks
with cross-entropy; score = mean cross-entropy of the chunk's
tokens; a sequence scores its worst chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from neighborwatch.models.baselines._tensors import last_state, padding_mask
from neighborwatch.models.baselines.posthoc._torchbase import TorchConfig, TorchSequenceDetector
from neighborwatch.models.manifest import register


@dataclass(frozen=True)
class LSTMAEConfig(TorchConfig):
    code_dim: int = 32
    epochs: int = 10


class _LSTMAENet(nn.Module):
    def __init__(self, vocab: int, cfg: LSTMAEConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, cfg.embed_dim, padding_idx=0)
        self.encoder = nn.LSTM(cfg.embed_dim, cfg.hidden, batch_first=True)
        self.code = nn.Linear(cfg.hidden, cfg.code_dim)
        self.decoder = nn.LSTM(cfg.code_dim, cfg.hidden, batch_first=True)
        self.head = nn.Linear(cfg.hidden, vocab)

    def token_nll(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Per-position reconstruction cross-entropy [B, L] (0 at padding)."""
        out, _ = self.encoder(self.embed(tokens))
        z = torch.tanh(self.code(last_state(out, lengths)))
        dec, _ = self.decoder(z[:, None, :].expand(-1, tokens.size(1), -1))
        logits = self.head(dec)
        nll = F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none")
        return nll * padding_mask(tokens)

    def chunk_error(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.token_nll(tokens, lengths).sum(1) / lengths.clamp(min=1)


@register
class LSTMAutoencoder(TorchSequenceDetector):
    name = "lstm_ae"
    presets = {
        "standard": {"epochs": 10, "max_train_chunks": 20_000},
        "fast": {"epochs": 2, "max_train_chunks": 1_000, "max_len": 32},
    }
    Config = LSTMAEConfig
    config: LSTMAEConfig

    def _build(self, vocab_size: int) -> nn.Module:
        return _LSTMAENet(vocab_size, self.config)

    def _loss(self, tokens: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        net: _LSTMAENet = self.module  # type: ignore[assignment]
        return net.token_nll(tokens, lengths).sum() / lengths.sum().clamp(min=1)

    def _score(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        net: _LSTMAENet = self.module  # type: ignore[assignment]
        return net.chunk_error(tokens, lengths)
