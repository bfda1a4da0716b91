"""ITDBERT-style detector: masked-LM pre-training on activity tokens, then an attention-based
LSTM classifier (after Huang et al., "ITDBERT: Temporal-Semantic Representation for Insider
Threat Detection", ISCC 2021), a post-hoc baseline of the LAN paper (r4.2 AUC 0.7413).

As in ITDBERT:
1. **pre-training** (self-supervised, all training chunks): a small BERT — token + learned
   position embeddings, a bidirectional Transformer encoder — learns to recover masked activity
   tokens (15 % of positions replaced by a [MASK] token; cross-entropy on them). The tokens are
   word × hour, so the model learns the temporal semantics ITDBERT gets from its time-aware
   input.
2. **classification** (SUPERVISED — the training labels are read here, which the detector
   contract allows in `fit`): the encoder's outputs feed a bidirectional LSTM with additive
   attention pooling and a linear output; the whole stack is fine-tuned with binary
   cross-entropy on chunk labels (a chunk is positive iff it contains a malicious activity),
   weighted by the inverse class frequency (`pos_weight`), and the epoch with the lowest
   validation loss is kept. Score = the malicious logit; a sequence scores its worst chunk.

When the training period holds no malicious chunk (or no labels are given), step 2 is
impossible and the detector stays unsupervised: score = the masked-LM loss of the chunk with
every position masked once (4 deterministic passes, positions ≡ j mod 4 masked in pass j).
The mode is recorded in detector.json.

Simplifications (CPU): width 32, 2 layers, 2 heads instead of BERT-base; [MASK]-only
corruption (no 80/10/10 split); chunks of at most `max_len` activities instead of whole days.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neighborwatch.models.baselines._tensors import padding_mask
from neighborwatch.models.baselines.posthoc._chunks import make_chunks
from neighborwatch.models.baselines.posthoc._torchbase import TorchConfig, TorchSequenceDetector
from neighborwatch.models.manifest import register
from neighborwatch.sequences.base import SequenceSet

MASK_PASSES = 4


@dataclass(frozen=True)
class ITDBERTConfig(TorchConfig):
    heads: int = 2
    layers: int = 2
    mask_rate: float = 0.15
    pretrain_epochs: int = 5
    epochs: int = 5  # classifier fine-tuning epochs
    finetune_lr: float = 5e-4
    embed_dim: int = 32
    hidden: int = 32  # classifier LSTM width per direction


class _ITDBERTNet(nn.Module):
    def __init__(self, vocab: int, cfg: ITDBERTConfig) -> None:
        super().__init__()
        d = cfg.embed_dim
        self.mask_id = vocab  # one extra embedding row for [MASK]
        self.tok = nn.Embedding(vocab + 1, d, padding_idx=0)
        self.pos = nn.Embedding(cfg.max_len, d)
        layer = nn.TransformerEncoderLayer(
            d, cfg.heads, dim_feedforward=4 * d, dropout=0.1, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.mlm_head = nn.Linear(d, vocab)
        self.lstm = nn.LSTM(d, cfg.hidden, batch_first=True, bidirectional=True)
        self.att = nn.Linear(2 * cfg.hidden, 1)
        self.cls = nn.Linear(2 * cfg.hidden, 1)

    def encode(self, tokens: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(tokens.size(1), device=tokens.device)
        x = self.tok(tokens) + self.pos(pos)[None]
        return self.norm(self.encoder(x, src_key_padding_mask=~real))

    def mlm_nll(self, tokens: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """Cross-entropy [B, L] of recovering each token where `masked` (0 elsewhere)."""
        real = padding_mask(tokens)
        inp = torch.where(masked, torch.full_like(tokens, self.mask_id), tokens)
        logits = self.mlm_head(self.encode(inp, real))
        nll = F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none")
        return nll * masked

    def logit(self, tokens: torch.Tensor) -> torch.Tensor:
        real = padding_mask(tokens)
        h, _ = self.lstm(self.encode(tokens, real))
        a = self.att(torch.tanh(h)).squeeze(-1).masked_fill(~real, float("-inf"))
        pooled = (torch.softmax(a, dim=1).unsqueeze(-1) * h).sum(1)
        return self.cls(pooled).squeeze(-1)


@register
class ITDBERT(TorchSequenceDetector):
    name = "itdbert"
    presets = {
        "standard": {"pretrain_epochs": 5, "epochs": 5, "max_train_chunks": 20_000},
        "fast": {"pretrain_epochs": 1, "epochs": 2, "max_train_chunks": 1_000, "max_len": 32},
    }
    Config = ITDBERTConfig
    config: ITDBERTConfig

    def __init__(self, config: ITDBERTConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.mode = "supervised"
        self.pos_weight = 1.0

    def _build(self, vocab_size: int) -> nn.Module:
        return _ITDBERTNet(vocab_size, self.config)

    @property
    def net(self) -> _ITDBERTNet:
        assert isinstance(self.module, _ITDBERTNet)
        return self.module

    def _mlm_loss(self, tokens: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        real = padding_mask(tokens)
        masked = (torch.rand(tokens.shape) < self.config.mask_rate) & real
        # at least one masked position per row, so every chunk teaches something
        first = torch.zeros_like(masked)
        pick = (torch.rand(tokens.shape) * real).argmax(1)
        first[torch.arange(len(tokens)), pick] = True
        masked = masked | (first & real)
        return self.net.mlm_nll(tokens, masked).sum() / masked.sum().clamp(min=1)

    def _cls_loss(self, tokens: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        assert labels is not None
        return F.binary_cross_entropy_with_logits(
            self.net.logit(tokens), labels, pos_weight=torch.tensor(self.pos_weight)
        )

    def fit(
        self,
        train: SequenceSet,
        train_labels: np.ndarray | None = None,
        validation: SequenceSet | None = None,
        validation_labels: np.ndarray | None = None,
    ) -> ITDBERT:
        self._start_fit(train)
        cfg = self.config
        chunks = make_chunks(train, cfg.max_len)
        val_chunks = make_chunks(validation, cfg.max_len) if validation is not None and len(validation) else None
        self._train(chunks, None, val_chunks, None, self._mlm_loss, cfg.pretrain_epochs, "MLM pre-training")

        y = chunks.labels(train_labels) if train_labels is not None else None
        if y is None or not y.any() or y.all():
            self.mode = "unsupervised"  # nothing to classify against; keep the MLM scorer
            return self
        self.mode = "supervised"
        self.pos_weight = float((~y).sum() / y.sum())
        val_y = None
        if val_chunks is not None and validation_labels is not None:
            val_y = val_chunks.labels(validation_labels)
            if not val_y.any():
                val_chunks, val_y = None, None  # a validation loss without positives selects nothing useful
        else:
            val_chunks = None
        self._train(
            chunks,
            y.astype(np.float32),
            val_chunks,
            val_y.astype(np.float32) if val_y is not None else None,
            self._cls_loss,
            cfg.epochs,
            "classifier fine-tuning",
            lr=cfg.finetune_lr,
        )
        return self

    def _score(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.mode == "supervised":
            return self.net.logit(tokens)
        real = padding_mask(tokens)
        pos = torch.arange(tokens.size(1))[None].expand_as(tokens)
        total = torch.zeros(len(tokens))
        for j in range(MASK_PASSES):
            total += self.net.mlm_nll(tokens, real & (pos % MASK_PASSES == j)).sum(1)
        return total / lengths.clamp(min=1)

    def _extra_manifest(self) -> dict[str, Any]:
        return {"mode": self.mode, "pos_weight": self.pos_weight}

    def _restore_extra(self, manifest: dict[str, Any]) -> None:
        self.mode = manifest.get("mode", "supervised")
        self.pos_weight = float(manifest.get("pos_weight", 1.0))
