"""Every switch of LAN in one dataclass; the defaults are the paper's configuration (LAN.md §3-4).

The config is the single source of truth shared by training, batch scoring, save/load and the
streaming scorer, so anything that changes a score (e.g. the attention window) lives here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from neighborwatch.models.options import UnknownOptionError

ENCODERS = ("lstm", "gru", "rnn", "transformer")
POOLINGS = ("attention", "mean")
GNNS = ("gcn", "gat")
GRAPHS = ("weighted", "cosine")
MODES = ("faithful", "fast")
DEVICES = ("auto", "cpu", "cuda")
SPARSIFY = ("absolute", "centred", "top_m")
NEIGHBOURS = ("retrieved", "random", "none")
LOSSES = ("hybrid", "normal_only")
TRAIN_UNITS = ("session", "prefix")
SCHEDULES = ("constant", "cosine")


@dataclass
class LANConfig:
    # -- vocabulary -----------------------------------------------------------------------------
    #: number of classes including padding 0. The head predicts over all of them (as the paper
    #: does, 169 for CERT), so C = vocab_size in the hybrid loss and the padding class receives
    #: its 1/(C-1) share of a malicious sample's target like every other non-observed class.
    vocab_size: int = 169
    # -- encoder --------------------------------------------------------------------------------
    encoder: str = "lstm"
    embed_dim: int = 128
    hidden: int = 128
    layers: int = 2
    dropout: float = 0.3
    transformer_heads: int = 8
    # -- pooling --------------------------------------------------------------------------------
    pooling: str = "attention"
    attention_heads: int = 8
    #: cap of the last-position attention to the W most recent hidden states (0 = whole prefix,
    #: the paper). Applied identically in training, batch scoring and streaming.
    attention_window: int = 0
    # -- retrieval ------------------------------------------------------------------------------
    k: int = 15  # graph nodes = query + k-1 neighbours
    hnsw_m: int = 64
    hnsw_ef_search: int = 128
    #: pools smaller than this use an exact inner-product index (IndexFlatIP) instead of HNSW
    exact_below: int = 20_000
    #: never use a pool prefix with exactly the query's tokens as its neighbour (training and
    #: inference alike). Pool membership depends on the next activity's label, so without this
    #: an identical-copy neighbour would tell the model "the next activity is normal" in training.
    exclude_identical: bool = True
    #: cap the pool at this many prefixes (random, seeded); 0 = every distinct normal prefix
    max_pool: int = 0
    #: where the neighbours come from: retrieved (the paper), random pool prefixes (a fixed
    #: pseudo-random function of the prefix's tokens, so batch = stream), or none (k must be 1)
    neighbours: str = "retrieved"
    #: retrieve neighbours when scoring (False: the trained head sees the query node alone)
    inference_retrieval: bool = True
    # -- graph + GNN ----------------------------------------------------------------------------
    graph: str = "weighted"
    perspectives: int = 4
    epsilon: float = 0.5
    #: how A is sparsified: absolute (the paper: S_ij > ε; retrieved neighbours are near-copies,
    #: so it keeps ~all edges), centred (ε on each graph's z-scored off-diagonal similarities:
    #: an edge must be ε standard deviations above the graph's mean), top_m (each node keeps its
    #: `top_m` strongest edges, symmetrised)
    sparsify: str = "absolute"
    top_m: int = 4
    gnn: str = "gcn"
    gnn_layers: int = 2
    gnn_dropout: float = 0.3
    gat_heads: int = 4
    # -- loss -----------------------------------------------------------------------------------
    #: hybrid (the paper: push-away targets on malicious activities) or normal_only (plain
    #: next-activity cross-entropy on normal targets; malicious targets are not trained on)
    loss: str = "hybrid"
    malicious_weight: float = 10.0  # r: sample weight 1 + r * label
    reg_smoothness: float = 0.2  # weight of mean_b tr(H^T L H) / k^2
    reg_sparsity: float = 0.1  # weight of ||A||_F^2 / (k^2 B)
    # -- samples --------------------------------------------------------------------------------
    normal_rate: float = 0.5  # share of positions of normal sessions used for training
    oversample_ratio: float = 0.1  # abnormal-target samples oversampled to this share of normal
    max_train_samples: int = 0  # 0 = all; otherwise a seeded random subset per run
    # -- optimisation ---------------------------------------------------------------------------
    mode: str = "faithful"  # faithful: neighbours re-encoded with gradients; fast: cached pool
    #: session: each session of a batch is encoded once and every sampled position of it is
    #: trained from that one causal pass; prefix: one encoder pass per sampled prefix (the
    #: authors' way, kept as the reference for tests and benchmarks/train.py). Same loss.
    train_unit: str = "session"
    #: group each training batch from prefixes of similar length (sorted inside random chunks of
    #: this many batches; batch order shuffled). 0 = plain random batches, as the paper. On CPU an
    #: LSTM's backward costs batch × longest prefix, so this cuts step time several-fold.
    length_buckets: int = 0
    lr: float = 1e-5
    weight_decay: float = 0.01
    batch_size: int = 512  # target positions per optimiser step
    epochs: int = 10
    patience: int = 3
    #: budget in optimiser steps (0 = epochs × one pass over the samples)
    max_steps: int = 0
    #: steps between pool refreshes / validations, at most one pass over the samples (0 = one
    #: pass = the classic epoch); `epochs` counts these
    epoch_steps: int = 0
    warmup_steps: int = 0  # linear warm-up to lr (at most a tenth of the step budget)
    lr_schedule: str = "constant"  # constant | cosine (decay to 0 at the end of the budget)
    clip_norm: float = 0.0  # gradient-norm clipping (0 = off)
    seed: int = 42
    device: str = "auto"
    #: CPU threads for torch (0 = torch's default). On a small, shared CPU 1 is often far faster:
    #: measured 15-40x faster training steps on 2 cores shared with other jobs.
    threads: int = 0
    # -- inference ------------------------------------------------------------------------------
    score_batch_size: int = 4096  # queries per head batch when scoring
    #: condition every prediction on who acts: p(a | prefix, user) ∝ p(a | prefix, neighbours) ·
    #: p(a | user) / p(a), the user's own training mix (`models/user_history.py`; shrunk to the
    #: organisation's by `user_prior_events` pseudo-events). Users without training history keep
    #: the plain prediction. Off in the paper, whose LAN never sees the acting user.
    user_history: bool = False
    user_prior_events: float = 20.0
    encode_tokens: int = 65_536  # padded tokens per encoder batch (memory bound of a pass)
    #: the preset this config started from (informational, logged; "" = none)
    preset: str = ""

    def __post_init__(self) -> None:
        for name, allowed in (
            ("encoder", ENCODERS),
            ("pooling", POOLINGS),
            ("gnn", GNNS),
            ("graph", GRAPHS),
            ("mode", MODES),
            ("device", DEVICES),
            ("sparsify", SPARSIFY),
            ("neighbours", NEIGHBOURS),
            ("loss", LOSSES),
            ("train_unit", TRAIN_UNITS),
            ("lr_schedule", SCHEDULES),
            ("preset", ("", *PRESETS)),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name in ("inference_retrieval", "user_history"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.k < 1:
            raise ValueError("k (graph nodes) must be at least 1")
        if (self.neighbours == "none") != (self.k == 1):
            raise ValueError("neighbours='none' and k=1 go together (k counts the query node)")
        if self.top_m < 1:
            raise ValueError("top_m must be at least 1")
        if min(self.max_steps, self.epoch_steps, self.warmup_steps) < 0 or self.clip_norm < 0:
            raise ValueError("max_steps, epoch_steps, warmup_steps and clip_norm must be >= 0")
        if self.lr <= 0 or self.batch_size < 1 or self.epochs < 1:
            raise ValueError("lr must be > 0, batch_size and epochs >= 1")
        if self.hidden % self.attention_heads or self.hidden % self.transformer_heads:
            raise ValueError("hidden must be divisible by the attention heads")
        if self.encoder == "transformer" and self.embed_dim != self.hidden:
            raise ValueError("the transformer encoder needs embed_dim == hidden")
        if min(self.attention_window, self.max_pool, self.max_train_samples, self.threads, self.length_buckets) < 0:
            raise ValueError("attention_window, max_pool, max_train_samples, threads and length_buckets must be >= 0")
        if not 0.0 < self.normal_rate <= 1.0:
            raise ValueError("normal_rate must be in (0, 1]")
        if not self.user_prior_events > 0:
            raise ValueError("user_prior_events must be > 0")

    # -- JSON round trip ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LANConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise UnknownOptionError(f"unknown LAN config keys: {', '.join(sorted(unknown))}")
        return cls(**d)

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_json(cls, path: str | Path) -> LANConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def replace(self, **changes: Any) -> LANConfig:
        """A copy with `changes` applied (None values are ignored, for CLI options left out)."""
        d = self.to_dict()
        d.update({k: v for k, v in changes.items() if v is not None})
        return LANConfig.from_dict(d)

    @classmethod
    def from_preset(cls, name: str, **changes: Any) -> LANConfig:
        """A named preset (`PRESETS`) with `changes` applied."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls(**PRESETS[name], preset=name).replace(**changes)


#: Named starting points of `neighborwatch train --preset`. Both spell out every training choice
#: they depend on, so that a change of the dataclass defaults cannot silently change a preset.
PRESETS: dict[str, dict[str, Any]] = {
    # converges quickly on a small CPU: cached-pool neighbours, a 1e-3 peak learning rate with
    # warm-up and cosine decay over a fixed step budget, clipped gradients, a pool refresh and a
    # validation every 500 steps (at most one pass), a capped pool (its refresh + index build
    # bound each epoch), a sparse graph (centred ε) instead of the all-edges ε = 0.5 graph, and
    # sessions of similar length batched together (shorter recurrent passes); neighbours are
    # random pool prefixes, not retrieved ones: in the ablation on two real-insider dev orgs (3
    # seeds, 1,000 steps) retrieved neighbours were no better than random ones (real-time AUC
    # 0.908 vs 0.908 and 0.933 vs 0.943; sessions 0.886 vs 0.913 and 0.823 vs 0.871) while the
    # search cost ~2x the scoring time; the graph itself helped on one org (k = 1: 0.886). k = 5
    # graph nodes, not 15: in the same kind of ablation (calibration-split dev orgs, 3 seeds,
    # 1,000 steps) k = 5 / 15 / 40 scored 0.903 / 0.888 / 0.906 (r4.2) and 0.942 / 0.941 / 0.943
    # (r5.2) real-time AUC, all CIs overlapping, while k = 5 fits ~1.3x and scores ~2x faster.
    # Predictions conditioned on the acting user's history (`user_history`): on the same orgs
    # (3 seeds, one fit scored with and without it) real-time AUC 0.962 vs 0.898 (r4.2) and
    # 0.970 vs 0.941 (r5.2), paired bootstrap better on every seed
    "quick": dict(
        mode="fast",
        neighbours="random",
        k=5,
        lr=1e-3,
        batch_size=256,
        max_steps=6_000,
        epoch_steps=500,
        epochs=12,
        patience=4,
        warmup_steps=300,
        lr_schedule="cosine",
        clip_norm=1.0,
        sparsify="centred",
        epsilon=0.5,
        max_pool=200_000,
        train_unit="session",
        length_buckets=4,
        user_history=True,
    ),
    # LAN.md §3-4 as published: faithful mode, AdamW lr 1e-5 constant, batch 512, 10 epochs,
    # early stop after 3, ε = 0.5 on the raw similarities, whole pool, no clipping
    "paper": dict(
        mode="faithful",
        k=15,
        lr=1e-5,
        batch_size=512,
        max_steps=0,
        epoch_steps=0,
        epochs=10,
        patience=3,
        warmup_steps=0,
        lr_schedule="constant",
        clip_norm=0.0,
        sparsify="absolute",
        epsilon=0.5,
        max_pool=0,
        train_unit="session",
        length_buckets=0,
        user_history=False,
    ),
}
