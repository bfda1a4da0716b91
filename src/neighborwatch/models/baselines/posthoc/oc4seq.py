"""OC4Seq: multi-scale one-class recurrent network (Wang, Chen, Ni, Liu, Chen, Tang, KDD 2021;
arXiv 2008.13361), a post-hoc baseline of the LAN paper.

The paper's model, as used here:
* **global** component: token embedding → GRU over the whole sequence; the last hidden state,
  projected without bias, is the sequence embedding, pulled towards a centre `c_g` with the
  Deep SVDD one-class objective `‖φ(x) − c_g‖²`;
* **local** component: a second GRU over every sliding sub-sequence of `window` consecutive
  activities (each position with its `window − 1` predecessors); each local embedding is pulled
  towards a centre `c_l`; the local loss is the mean over positions;
* objective `L_global + α · L_local` (+ weight decay), trained end to end on the training
  period's normal chunks (the one-class setting of the paper: chunks holding a malicious
  activity are left out when labels are given; no label enters the objective);
* anomaly score = `‖φ_g − c_g‖² + α · mean_t ‖φ_l,t − c_l‖²`.
Centres are the mean embeddings of the untrained network on the training chunks, with near-zero
coordinates pushed to ±0.1 (Deep SVDD's guard against the trivial solution); projections have no
bias for the same reason.

Simplifications (CPU budget): small widths (embedding 32, hidden 64); sequences longer than
`max_len` are cut into chunks and the sequence scores as its most anomalous chunk; local windows
at the start of a sequence are left-padded instead of being skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from neighborwatch.models.baselines._tensors import last_state, padding_mask
from neighborwatch.models.baselines.posthoc._chunks import Chunks
from neighborwatch.models.baselines.posthoc._torchbase import TorchConfig, TorchSequenceDetector
from neighborwatch.models.manifest import register


@dataclass(frozen=True)
class OC4SeqConfig(TorchConfig):
    window: int = 5  # local sub-sequence length
    alpha: float = 1.0  # weight of the local objective
    rep_dim: int = 32  # dimension of the one-class embeddings
    weight_decay: float = 1e-5
    epochs: int = 8


class _OC4SeqNet(nn.Module):
    c_global: torch.Tensor  # buffers: the hypersphere centres
    c_local: torch.Tensor

    def __init__(self, vocab: int, cfg: OC4SeqConfig) -> None:
        super().__init__()
        self.window = cfg.window
        self.embed = nn.Embedding(vocab, cfg.embed_dim, padding_idx=0)
        self.global_rnn = nn.GRU(cfg.embed_dim, cfg.hidden, batch_first=True)
        self.global_proj = nn.Linear(cfg.hidden, cfg.rep_dim, bias=False)
        self.local_rnn = nn.GRU(cfg.embed_dim, cfg.hidden, batch_first=True)
        self.local_proj = nn.Linear(cfg.hidden, cfg.rep_dim, bias=False)
        self.register_buffer("c_global", torch.zeros(cfg.rep_dim))
        self.register_buffer("c_local", torch.zeros(cfg.rep_dim))

    def embeddings(self, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Global embedding [B, R] and local embeddings [B, L, R] (padding positions included)."""
        e = self.embed(tokens)
        out, _ = self.global_rnn(e)
        g = self.global_proj(last_state(out, lengths))
        b, length = tokens.shape
        w = self.window
        padded = nn.functional.pad(tokens, (w - 1, 0))  # left padding for the first windows
        windows = padded.unfold(1, w, 1)  # [B, L, w], window t ends at position t
        lo, _ = self.local_rnn(self.embed(windows.reshape(b * length, w)))
        loc = self.local_proj(lo[:, -1]).view(b, length, -1)
        return g, loc

    def distances(self, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per row: global squared distance [B] and mean local squared distance [B]."""
        g, loc = self.embeddings(tokens, lengths)
        dg = ((g - self.c_global) ** 2).sum(-1)
        mask = padding_mask(tokens).float()
        dl = (((loc - self.c_local) ** 2).sum(-1) * mask).sum(1) / mask.sum(1).clamp(min=1)
        return dg, dl


@register
class OC4Seq(TorchSequenceDetector):
    name = "oc4seq"
    presets = {
        "standard": {"epochs": 8, "max_train_chunks": 20_000},
        "fast": {"epochs": 2, "max_train_chunks": 1_000, "max_len": 32},
    }
    Config = OC4SeqConfig
    config: OC4SeqConfig

    def _build(self, vocab_size: int) -> nn.Module:
        return _OC4SeqNet(vocab_size, self.config)

    @torch.no_grad()
    def _before_training(self, chunks: Chunks) -> None:
        net = self.module
        assert isinstance(net, _OC4SeqNet)
        net.eval()
        rng = np.random.default_rng(self.config.seed)
        idx = rng.permutation(len(chunks))[:2048]
        gs, ls, n_local = [], [], 0.0
        for b in range(0, len(idx), 256):
            tok, lens = chunks.batch(idx[b : b + 256])
            g, loc = net.embeddings(tok, lens)
            mask = padding_mask(tok)
            gs.append(g.sum(0))
            ls.append(loc[mask].sum(0))
            n_local += float(mask.sum())
        c_g = torch.stack(gs).sum(0) / len(idx)
        c_l = torch.stack(ls).sum(0) / max(n_local, 1.0)
        for c in (c_g, c_l):
            small = c.abs() < 0.1
            c[small] = torch.where(c[small] < 0, -0.1, 0.1)
        net.c_global.copy_(c_g)
        net.c_local.copy_(c_l)

    def _loss(self, tokens: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        assert isinstance(self.module, _OC4SeqNet)  # built by _build
        dg, dl = self.module.distances(tokens, lengths)
        return dg.mean() + self.config.alpha * dl.mean()

    def _score(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        assert isinstance(self.module, _OC4SeqNet)  # built by _build
        dg, dl = self.module.distances(tokens, lengths)
        return dg + self.config.alpha * dl
