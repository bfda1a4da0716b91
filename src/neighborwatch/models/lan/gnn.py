"""Dense batched GNNs over B small graphs (k nodes: 15 in the paper, 5 in the default preset): GCN (paper default) or GAT.

At this size a dense [B, k, k] matrix product beats any sparse graph library.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def gcn_normalise(a: torch.Tensor) -> torch.Tensor:
    """Â = D^-1/2 (A + I) D^-1/2 with D the degree of A + I (symmetric, with self-loops)."""
    a_hat = a + torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    d = a_hat.sum(-1).clamp_min(1e-12).rsqrt()
    return d[..., :, None] * a_hat * d[..., None, :]


class DenseGCN(nn.Module):
    """Layers X ← Â X W; ReLU and dropout between layers, none after the last."""

    def __init__(self, dim: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.linears = nn.ModuleList(nn.Linear(dim, dim) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, a: torch.Tensor, query_only: bool = False) -> torch.Tensor:
        """Node features [B, k, H] → [B, k, H], or [B, 1, H] for node 0 alone (`query_only`).

        The head reads only the query node, so its last layer is computed as
        (Â₀ X) Wᵀ + (Â₀ 1) b — the same numbers as row 0 of Â (X Wᵀ + b), at 1/k of the cost.
        """
        a_hat = gcn_normalise(a)
        last = len(self.linears) - 1
        for i, lin in enumerate(self.linears):
            assert isinstance(lin, nn.Linear)
            if i == last and query_only:
                row = a_hat[:, :1, :]
                return lin(row @ x) + (row.sum(-1, keepdim=True) - 1.0) * lin.bias
            x = a_hat @ lin(x)
            if i < last:
                x = self.dropout(F.relu(x))
        return x


class DenseGATLayer(nn.Module):
    """Multi-head graph attention restricted to the learned edges (plus self-loops)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError("GAT dimension must be divisible by its heads")
        self.heads, self.head_dim = heads, dim // heads
        self.proj = nn.Linear(dim, dim, bias=False)
        self.att_src = nn.Parameter(torch.randn(heads, self.head_dim) * 0.1)
        self.att_dst = nn.Parameter(torch.randn(heads, self.head_dim) * 0.1)
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        b, k, _ = x.shape
        z = self.proj(x).view(b, k, self.heads, self.head_dim)  # [B, k, h, d]
        e = (z * self.att_dst).sum(-1)[:, :, None, :] + (z * self.att_src).sum(-1)[:, None, :, :]
        e = F.leaky_relu(e, 0.2)  # [B, k(i), k(j), h]
        edge = (a > 0) | torch.eye(k, dtype=torch.bool, device=a.device)
        e = e.masked_fill(~edge[..., None], float("-inf"))
        alpha = torch.softmax(e, dim=2)
        out = torch.einsum("bijh,bjhd->bihd", alpha, z).reshape(b, k, -1)
        return out + self.bias


class DenseGAT(nn.Module):
    def __init__(self, dim: int, layers: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DenseGATLayer(dim, heads) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x, a)
            if i < len(self.layers) - 1:
                x = self.dropout(F.elu(x))
        return x
