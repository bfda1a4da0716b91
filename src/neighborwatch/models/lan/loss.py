"""Hybrid prediction loss (LAN.md §4): self-supervised on normal targets, push-away on malicious.

Normal next activity: one-hot target on it. Malicious next activity: uniform 1/(C−1) over all
other classes and 0 on it, so the model learns to give that activity little probability. C is
the number of predicted classes, including padding 0 (the paper predicts over all 169).
Per-sample weight 1 + r·label; the loss is the plain batch mean of weighted soft cross-entropies.
"""

from __future__ import annotations

import torch


def hybrid_targets(next_tokens: torch.Tensor, malicious: torch.Tensor, n_classes: int) -> torch.Tensor:
    """[B] next tokens, [B] bool labels → [B, C] target distributions (each row sums to 1)."""
    onehot = torch.zeros(next_tokens.shape[0], n_classes, device=next_tokens.device)
    onehot[torch.arange(next_tokens.shape[0], device=next_tokens.device), next_tokens] = 1.0
    away = (1.0 - onehot) / (n_classes - 1)
    m = malicious.to(onehot.dtype)[:, None]
    return m * away + (1 - m) * onehot


def hybrid_loss(
    logits: torch.Tensor, next_tokens: torch.Tensor, malicious: torch.Tensor, malicious_weight: float
) -> torch.Tensor:
    """mean_b (1 + r·y_b) · Σ_c −target_bc · log softmax(logits)_bc."""
    target = hybrid_targets(next_tokens, malicious, logits.shape[-1])
    ce = -(target * torch.log_softmax(logits, dim=-1)).sum(-1)
    weight = 1.0 + malicious_weight * malicious.to(ce.dtype)
    return (weight * ce).mean()
