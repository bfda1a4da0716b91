"""Graph structure learning over the k nodes (query + neighbours) and the graph regulariser.

`S_ij = mean_p cos(w_p ⊙ h_i, w_p ⊙ h_j)` with P learnable perspective vectors (or the plain
cosine), then `A_ij = S_ij if S_ij > ε else 0`. The mask itself carries no gradient; the kept
similarities do. The diagonal of A is set to 0: self-loops are added by the GNN's normalisation
(weight 1, as in Kipf & Welling), so they are neither counted twice nor regularised.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def cosine_similarity_matrix(h: torch.Tensor) -> torch.Tensor:
    """h [..., k, d] → [..., k, k] pairwise cosine similarities."""
    n = F.normalize(h, dim=-1, eps=1e-8)
    return n @ n.transpose(-1, -2)


def weighted_cosine(h: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """h [B, k, d], weights [P, d] → mean over perspectives of cos(w_p ⊙ h_i, w_p ⊙ h_j)."""
    views = h[:, None, :, :] * weights[None, :, None, :]  # [B, P, k, d]
    return cosine_similarity_matrix(views).mean(dim=1)


def epsilon_mask(s: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Keep similarities above ε, zero the rest and the diagonal."""
    keep = (s > epsilon).to(s.dtype)
    eye = torch.eye(s.shape[-1], dtype=s.dtype, device=s.device)
    return s * keep * (1 - eye)


class GraphLearner(nn.Module):
    """Learns the adjacency of each k-node graph from its node vectors."""

    def __init__(self, dim: int, perspectives: int, epsilon: float, kind: str = "weighted") -> None:
        super().__init__()
        if kind not in ("weighted", "cosine"):
            raise ValueError(f"unknown graph {kind!r}")
        self.kind = kind
        self.epsilon = epsilon
        if kind == "weighted":
            # around 1 (so every perspective starts near the plain cosine) but not identical,
            # otherwise all perspectives would receive the same gradient forever
            self.weights = nn.Parameter(1.0 + 0.1 * torch.randn(perspectives, dim))

    def similarity(self, h: torch.Tensor) -> torch.Tensor:
        if self.kind == "weighted":
            return weighted_cosine(h, self.weights)
        return cosine_similarity_matrix(h)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return epsilon_mask(self.similarity(h), self.epsilon)


def graph_regulariser(h: torch.Tensor, a: torch.Tensor, smoothness: float, sparsity: float) -> torch.Tensor:
    """smoothness · mean_b tr(Hᵀ L H)/k² + sparsity · ‖A‖²_F/(k² B), with L = D − A.

    tr(HᵀLH) = ½ Σ_ij A_ij ‖h_i − h_j‖²: strongly linked nodes should be similar; the Frobenius
    term keeps the graph from growing dense.
    """
    b, k, _ = a.shape
    lap = torch.diag_embed(a.sum(-1)) - a
    smooth = ((lap @ h) * h).sum(dim=(1, 2)).mean() / k**2
    sparse = (a**2).sum() / (k**2 * b)
    return smoothness * smooth + sparsity * sparse
