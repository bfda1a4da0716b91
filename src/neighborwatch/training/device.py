"""Device selection: 'auto' takes CUDA when present, otherwise CPU; 'cuda' without one is an error."""

from __future__ import annotations

import torch


def select_device(name: str = "auto", threads: int = 0) -> torch.device:
    """The torch device for `name`; `threads` > 0 also sets torch's CPU thread count."""
    if threads > 0:
        torch.set_num_threads(threads)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)
