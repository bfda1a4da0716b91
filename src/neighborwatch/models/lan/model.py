"""LAN as an nn.Module: encoder → pooling → (retrieval outside) → graph learner → GNN → head.

The parts are separately callable so that batch scoring, training and a streaming scorer can
compose them differently:
* `encoder.encode_step(token, state)` (O(1) per event for recurrent encoders),
* `pool_last(hidden, lengths)` / `pool_causal(hidden)`: pooled prefix vectors,
* `head(query, neighbours)`: graph + GNN + linear head → next-activity logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from neighborwatch.models.lan.config import LANConfig
from neighborwatch.models.lan.encoder import SequenceEncoder
from neighborwatch.models.lan.gnn import DenseGAT, DenseGCN
from neighborwatch.models.lan.graph import GraphLearner
from neighborwatch.models.lan.pooling import make_pooling


@dataclass
class HeadOutput:
    logits: torch.Tensor  # [B, C] next-activity logits of the query node
    adjacency: torch.Tensor  # [B, k, k] learned graph (ε-masked, zero diagonal)
    nodes: torch.Tensor  # [B, k, H] node features before the GNN (query first)


class LANModel(nn.Module):
    def __init__(self, cfg: LANConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = SequenceEncoder(cfg)
        self.pooling = make_pooling(cfg.pooling, cfg.hidden, cfg.attention_heads, cfg.attention_window)
        self.graph = GraphLearner(cfg.hidden, cfg.perspectives, cfg.epsilon, cfg.graph, cfg.sparsify, cfg.top_m)
        if cfg.gnn == "gcn":
            self.gnn: nn.Module = DenseGCN(cfg.hidden, cfg.gnn_layers, cfg.gnn_dropout)
        else:
            self.gnn = DenseGAT(cfg.hidden, cfg.gnn_layers, cfg.gat_heads, cfg.gnn_dropout)
        self.out = nn.Linear(cfg.hidden, cfg.vocab_size)

    # -- encoding -------------------------------------------------------------------------------
    def pool_last(self, hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Pooled vector of each row's prefix hidden[:, :length] → [B, H]."""
        return self.pooling.last(hidden, lengths)

    def pool_causal(self, hidden: torch.Tensor) -> torch.Tensor:
        """Pooled vector of every prefix: position i of the result pools hidden[:, :i+1]."""
        return self.pooling.causal(hidden)

    def encode_prefixes(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """One prefix per row (right-padded tokens [B, T], lengths [B]) → [B, H] (paper's view)."""
        return self.pool_last(self.encoder(tokens, lengths), lengths)

    def encode_all_prefixes(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Whole sessions [B, T] → [B, T, H]: the vector of prefix tokens[:, :i+1] at i.

        `lengths` (optional) lets a recurrent encoder skip the padding; valid positions are
        the same either way (the passes are causal)."""
        return self.pool_causal(self.encoder(tokens, lengths))

    # -- graph head -----------------------------------------------------------------------------
    def head(self, query: torch.Tensor, neighbours: torch.Tensor) -> HeadOutput:
        """query [B, H], neighbours [B, k-1, H] → logits over the next activity of the query."""
        nodes = torch.cat([query[:, None, :], neighbours], dim=1)
        adjacency = self.graph(nodes)
        if isinstance(self.gnn, DenseGCN):
            x = self.gnn(nodes, adjacency, query_only=True)
        else:
            x = self.gnn(nodes, adjacency)
        return HeadOutput(self.out(x[:, 0]), adjacency, nodes)


def pad_prefixes(tokens: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded [B, max(lengths)] int64 token matrix of the prefixes tokens[start:start+len]."""
    t = int(lengths.max()) if len(lengths) else 1
    cols = np.arange(t)
    idx = starts[:, None] + cols[None, :]
    valid = cols[None, :] < lengths[:, None]
    out = np.where(valid, tokens[np.where(valid, idx, 0)], 0).astype(np.int64)
    return out, lengths.astype(np.int64)
