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
    # -- graph + GNN ----------------------------------------------------------------------------
    graph: str = "weighted"
    perspectives: int = 4
    epsilon: float = 0.5
    gnn: str = "gcn"
    gnn_layers: int = 2
    gnn_dropout: float = 0.3
    gat_heads: int = 4
    # -- loss -----------------------------------------------------------------------------------
    malicious_weight: float = 10.0  # r: sample weight 1 + r * label
    reg_smoothness: float = 0.2  # weight of mean_b tr(H^T L H) / k^2
    reg_sparsity: float = 0.1  # weight of ||A||_F^2 / (k^2 B)
    # -- samples --------------------------------------------------------------------------------
    normal_rate: float = 0.5  # share of positions of normal sessions used for training
    oversample_ratio: float = 0.1  # abnormal-target samples oversampled to this share of normal
    max_train_samples: int = 0  # 0 = all; otherwise a seeded random subset per run
    # -- optimisation ---------------------------------------------------------------------------
    mode: str = "faithful"  # faithful: neighbours re-encoded with gradients; fast: cached pool
    #: group each training batch from prefixes of similar length (sorted inside random chunks of
    #: this many batches; batch order shuffled). 0 = plain random batches, as the paper. On CPU an
    #: LSTM's backward costs batch × longest prefix, so this cuts step time several-fold.
    length_buckets: int = 0
    lr: float = 1e-5
    weight_decay: float = 0.01
    batch_size: int = 512
    epochs: int = 10
    patience: int = 3
    seed: int = 42
    device: str = "auto"
    #: CPU threads for torch (0 = torch's default). On a small, shared CPU 1 is often far faster:
    #: measured 15-40x faster training steps on 2 cores shared with other jobs.
    threads: int = 0
    # -- inference ------------------------------------------------------------------------------
    score_batch_size: int = 4096  # queries per head batch when scoring
    encode_tokens: int = 65_536  # padded tokens per encoder batch (memory bound of a pass)

    def __post_init__(self) -> None:
        for name, allowed in (("encoder", ENCODERS), ("pooling", POOLINGS), ("gnn", GNNS),
                              ("graph", GRAPHS), ("mode", MODES), ("device", DEVICES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.k < 1:
            raise ValueError("k (graph nodes) must be at least 1")
        if self.hidden % self.attention_heads or self.hidden % self.transformer_heads:
            raise ValueError("hidden must be divisible by the attention heads")
        if self.encoder == "transformer" and self.embed_dim != self.hidden:
            raise ValueError("the transformer encoder needs embed_dim == hidden")
        if min(self.attention_window, self.max_pool, self.max_train_samples, self.threads, self.length_buckets) < 0:
            raise ValueError("attention_window, max_pool, max_train_samples, threads and length_buckets must be >= 0")
        if not 0.0 < self.normal_rate <= 1.0:
            raise ValueError("normal_rate must be in (0, 1]")

    # -- JSON round trip ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LANConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise UnknownOptionError(f"unknown LAN config keys: {', '.join(sorted(unknown))}")
        return cls(**d)

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_json(cls, path: str | Path) -> "LANConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))

    def replace(self, **changes: Any) -> "LANConfig":
        """A copy with `changes` applied (None values are ignored, for CLI options left out)."""
        d = self.to_dict()
        d.update({k: v for k, v in changes.items() if v is not None})
        return LANConfig.from_dict(d)
