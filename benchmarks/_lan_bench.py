"""Shared by benchmarks/train.py and benchmarks/score.py: data splits and the machine line."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np
import torch

from neighborwatch.sequences.base import SequenceSet


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} logical CPUs (load {load:.1f}), torch {torch.__version__} "
            f"with {torch.get_num_threads()} threads{gpu}, Python {platform.python_version()}")


def splits(work: str | None, toy_scale: int = 1) -> dict[str, tuple[SequenceSet, np.ndarray]]:
    """{'train'|'validation'|'test': (sessions, per-activity labels)} from WORK, or toy data."""
    if work is None:
        from neighborwatch.sequences.toy import toy_data

        return toy_data(seed=0, n_train=300 * toy_scale, n_val=80 * toy_scale, n_test=120 * toy_scale)
    from neighborwatch.data.labels import row_labels
    from neighborwatch.sequences.base import activity_labels
    from neighborwatch.sequences.build import load_sequences

    seqs = load_sequences(work, "session")
    malicious, _ = row_labels(work)
    out = {}
    for name in ("train", "validation", "test"):
        s = seqs.split(name)
        out[name] = (s, activity_labels(s, malicious))
    return out
