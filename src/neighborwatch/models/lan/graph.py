"""Graph structure learning over the k nodes (query + neighbours) and the graph regulariser.

`S_ij = mean_p cos(w_p ⊙ h_i, w_p ⊙ h_j)` with P learnable perspective vectors (or the plain
cosine), then `A_ij = S_ij` where the sparsification keeps the edge, else 0:
* absolute (the paper): S_ij > ε. Retrieved neighbours are near-copies of the query (mean
  cosine ≈ 0.98 measured), so this keeps practically every edge and the GCN just averages;
* centred: (S_ij − μ)/σ > ε with μ, σ over the graph's off-diagonal similarities — ε now means
  "ε standard deviations above this graph's mean", whatever the graph's overall similarity;
* top_m: each node keeps its m strongest edges (then symmetrised).
Centred and top-m also drop non-positive similarities (GCN degrees must stay positive). The mask
itself carries no gradient; the kept similarities do. The diagonal of A is set to 0: self-loops are added by the GNN's normalisation
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
    """h [B, k, d], weights [P, d] → mean over perspectives of cos(w_p ⊙ h_i, w_p ⊙ h_j).

    Computed as (h_i · diag(w_p²) · h_j) / (‖w_p ⊙ h_i‖ ‖w_p ⊙ h_j‖) with the norms from one
    [B, k, d] × [d, P] product: the same numbers as normalising every weighted view, without the
    [B, P, k, d] normalisation and its backward, which dominated a training step on CPU.
    """
    w2 = weights * weights  # [P, d]
    gram = torch.einsum("bkd,pd,bld->bpkl", h, w2, h)  # [B, P, k, k]
    norms = ((h * h) @ w2.T).clamp_min(1e-16).sqrt().transpose(1, 2)  # [B, P, k]
    return (gram / (norms[..., :, None] * norms[..., None, :])).mean(dim=1)


def epsilon_mask(s: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Keep similarities above ε, zero the rest and the diagonal."""
    keep = (s > epsilon).to(s.dtype)
    eye = torch.eye(s.shape[-1], dtype=s.dtype, device=s.device)
    return s * keep * (1 - eye)


def _off_diagonal(s: torch.Tensor) -> torch.Tensor:
    return ~torch.eye(s.shape[-1], dtype=torch.bool, device=s.device)


def centred_mask(s: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Keep S_ij whose z-score among the graph's off-diagonal similarities exceeds ε (and S_ij > 0)."""
    off = _off_diagonal(s)
    with torch.no_grad():
        k = s.shape[-1]
        n = max(k * (k - 1), 1)
        vals = s * off
        mean = vals.sum((-1, -2), keepdim=True) / n
        var = (((s - mean) * off) ** 2).sum((-1, -2), keepdim=True) / n
        keep = ((s - mean) > epsilon * var.sqrt().clamp_min(1e-6)) & (s > 0) & off
    return s * keep.to(s.dtype)


def top_m_mask(s: torch.Tensor, m: int) -> torch.Tensor:
    """Keep each node's m strongest positive edges, symmetrised (i keeps j or j keeps i)."""
    off = _off_diagonal(s)
    with torch.no_grad():
        m = min(m, s.shape[-1] - 1)
        keep = torch.zeros_like(s, dtype=torch.bool)
        if m > 0:
            top = s.masked_fill(~off, float("-inf")).topk(m, dim=-1).indices
            keep.scatter_(-1, top, True)
        keep = (keep | keep.transpose(-1, -2)) & (s > 0) & off
    return s * keep.to(s.dtype)


def edge_density(a: torch.Tensor) -> float:
    """Share of possible (off-diagonal) edges of the [B, k, k] graphs that sparsification kept."""
    b, k, _ = a.shape
    return float((a != 0).sum()) / (b * k * (k - 1)) if k > 1 and b else 0.0


class GraphLearner(nn.Module):
    """Learns the adjacency of each k-node graph from its node vectors."""

    def __init__(
        self,
        dim: int,
        perspectives: int,
        epsilon: float,
        kind: str = "weighted",
        sparsify: str = "absolute",
        top_m: int = 4,
    ) -> None:
        super().__init__()
        if kind not in ("weighted", "cosine"):
            raise ValueError(f"unknown graph {kind!r}")
        if sparsify not in ("absolute", "centred", "top_m"):
            raise ValueError(f"unknown sparsification {sparsify!r}")
        self.kind = kind
        self.epsilon = epsilon
        self.sparsify = sparsify
        self.top_m = top_m
        if kind == "weighted":
            # around 1 (so every perspective starts near the plain cosine) but not identical,
            # otherwise all perspectives would receive the same gradient forever
            self.weights = nn.Parameter(1.0 + 0.1 * torch.randn(perspectives, dim))

    def similarity(self, h: torch.Tensor) -> torch.Tensor:
        if self.kind == "weighted":
            return weighted_cosine(h, self.weights)
        return cosine_similarity_matrix(h)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        s = self.similarity(h)
        if self.sparsify == "centred":
            return centred_mask(s, self.epsilon)
        if self.sparsify == "top_m":
            return top_m_mask(s, self.top_m)
        return epsilon_mask(s, self.epsilon)


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
