"""Plain-JSON conversion shared by every layer that writes results (bottom layer: numpy only)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types; NaN/inf become null (JSON has no NaN), numpy scalars become numbers.

    Keys named `arrays` (raw per-item scores kept in memory for plots) are left out: they are
    large and the files that hold results must stay readable.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items() if k != "arrays"}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)
