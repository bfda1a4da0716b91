"""The one "machine:" line every benchmark prints, so numbers from different scripts compare."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    """CPU model, logical CPUs and current load, RAM, Python, and torch threads / GPU if loaded."""
    cpu = platform.processor() or platform.machine()
    mem = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = f"{int(Path('/proc/meminfo').read_text().split()[1]) / 1024**2:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    line = f"{cpu}, {os.cpu_count()} logical CPUs (load {load:.1f}), {mem} RAM, Python {platform.python_version()}"
    import sys

    if "torch" in sys.modules:
        import torch

        gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
        line += f", torch {torch.__version__} with {torch.get_num_threads()} threads{gpu}"
    return line
