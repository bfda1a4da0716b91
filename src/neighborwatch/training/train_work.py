"""`neighborwatch train`: WORK folder → trained LAN model directory.

Reads the session sequences of WORK, the train and validation splits only (the test split is
never loaded here), joins labels for those two splits, fits LAN with early stopping on the
validation period and saves the best epoch.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from neighborwatch.models.lan.config import LANConfig
from neighborwatch.progress import console
from neighborwatch.workdir import WorkDir, write_json


def build_config(config_file: Path | None = None, preset: str | None = None, **overrides: Any) -> LANConfig:
    """A preset (default: quick) or a JSON file ← command-line options (None = not given)."""
    if config_file and preset:
        raise ValueError("give either --preset or --config (a config file holds every setting)")
    cfg = LANConfig.from_json(config_file) if config_file else LANConfig.from_preset(preset or "quick")
    return cfg.replace(**overrides)


def _print_epoch(row: dict[str, Any]) -> None:
    metric = " ".join(f"{k}={row[k]:.4f}" for k in ("val_auc", "val_loglik") if k in row)
    console.print(f"epoch {row['epoch']}: loss={row['loss']:.4f} {metric} "
                  f"{row['samples_per_s']:.0f} samples/s ({row['samples_per_cpu_s']:.0f} per CPU-s), "
                  f"pool refresh {row['pool_s']:.0f} s, edge density {row.get('edge_density', 1):.2f}"
                  f"{' (best so far)' if row['best'] else ''}", markup=False)


def train_work(work: str | Path, out: str | Path, config: LANConfig, kind: str = "session") -> dict[str, Any]:
    from neighborwatch.data.labels import row_labels
    from neighborwatch.models.lan.detector import LAN
    from neighborwatch.sequences.base import activity_labels
    from neighborwatch.sequences.build import load_sequences

    wd = WorkDir(work).require()
    seqs = load_sequences(wd, kind)
    train, validation = seqs.split("train"), seqs.split("validation")
    if len(train) == 0:
        raise ValueError(f"{work} has no training sequences")
    malicious, _ = row_labels(wd)
    y_train = activity_labels(train, malicious)
    y_val = activity_labels(validation, malicious) if len(validation) else None
    console.print(f"training LAN (preset {config.preset or 'none'}, {config.mode}, "
                  f"{config.encoder}/{config.pooling}/{config.gnn}, k={config.k}) on "
                  f"{train.n_activities:,} activities in {len(train):,} {kind}s "
                  f"({int(y_train.sum()):,} malicious); validation {validation.n_activities:,} activities "
                  f"({int(y_val.sum()) if y_val is not None else 0:,} malicious)")
    t0 = time.perf_counter()
    det = LAN(config).fit(train, y_train, validation if len(validation) else None, y_val, on_epoch=_print_epoch)
    seconds = time.perf_counter() - t0
    det.save(out)
    summary = {
        "work": str(work), "kind": kind, "device": str(det.device), "train_seconds": round(seconds, 2),
        "best_epoch": det.best_epoch, "pool_size": len(det.pool), "exact_index": det.index.exact,
        "train_activities": int(train.n_activities), "validation_activities": int(validation.n_activities),
        "epochs": det.history,
    }
    write_json(Path(out) / "train.json", summary)
    console.print(f"best epoch {det.best_epoch}; saved to {out} ({seconds:.1f} s)")
    return summary


def samples_per_second(history: list[dict[str, Any]]) -> float:
    return float(np.mean([r["samples_per_s"] for r in history])) if history else 0.0
