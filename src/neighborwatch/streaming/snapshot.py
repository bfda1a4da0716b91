"""Durable engine state: a JSON document + an npz of scorer arrays, replaced atomically.

A snapshot is a directory `snap-<n>/` holding `state.json` (sessions, risk, dedup ids, ordering
buffer, sink offsets) and `scorer.npz` (the scorer's slot arrays, `allow_pickle=False`); the
file `CURRENT` names the latest complete one, written last via rename, so a crash mid-snapshot
leaves the previous snapshot in force. No pickle anywhere: a snapshot is data, not code.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from neighborwatch.streaming.engine import Engine

KEEP = 2  # snapshots kept on disk (the current one and its predecessor)


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(engine: Engine, root: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write a new snapshot and make it current; returns its directory."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    current = latest(root)
    n = int(current.name.split("-")[1]) + 1 if current is not None else 1
    d = root / f"snap-{n:08d}"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir()
    state = engine.state_json()
    state["extra"] = extra or {}
    _fsync_write(d / "state.json", json.dumps(state).encode())
    with open(d / "scorer.npz", "wb") as fh:
        # numpy's stub lets **arrays fill its allow_pickle: bool
        np.savez(fh, **engine.scorer.state_arrays())  # type: ignore[arg-type]
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_dir(d)
    tmp = root / "CURRENT.tmp"
    _fsync_write(tmp, d.name.encode())
    os.replace(tmp, root / "CURRENT")
    _fsync_dir(root)  # the rename itself survives a power loss only once its directory is synced
    for old in sorted(root.glob("snap-*"))[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return d


def latest(root: str | Path) -> Path | None:
    f = Path(root) / "CURRENT"
    if not f.exists():
        return None
    d = Path(root) / f.read_text().strip()
    return d if (d / "state.json").exists() else None


def load(engine: Engine, root: str | Path) -> dict[str, Any] | None:
    """Restore the latest snapshot into `engine`; returns its `extra` dict (None: no snapshot)."""
    d = latest(root)
    if d is None:
        return None
    state = json.loads((d / "state.json").read_text())
    engine.load_state_json(state)
    with np.load(d / "scorer.npz", allow_pickle=False) as z:
        engine.scorer.load_state_arrays({k: z[k] for k in z.files})
    return state.get("extra", {})
