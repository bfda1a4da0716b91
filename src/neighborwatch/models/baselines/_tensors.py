"""Padding and last-state helpers shared by every torch baseline (token 0 is padding everywhere).

Next-activity windows arrive LEFT-padded (the most recent activity in the last column); post-hoc
chunks and rotated windows are RIGHT-padded with their lengths. One helper per job, for both.
"""

from __future__ import annotations

import torch


def padding_mask(tokens: torch.Tensor) -> torch.Tensor:
    """True at real activities, False at padding."""
    return tokens != 0


def right_pad(windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded windows → (the same tokens right-padded, number of real tokens per row)."""
    w = windows.shape[1]
    lengths = padding_mask(windows).sum(1)
    cols = (torch.arange(w, device=windows.device)[None, :] + (w - lengths)[:, None]) % w
    return windows.gather(1, cols), lengths


def last_state(outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """outputs [B, L, H] of right-padded rows → the state at each row's last real position [B, H]."""
    idx = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, outputs.size(-1))
    return outputs.gather(1, idx).squeeze(1)


def last_position(hidden: torch.Tensor) -> torch.Tensor:
    """hidden [B, W, H] of left-padded windows → the state of the most recent activity [B, H]."""
    return hidden[:, -1]
