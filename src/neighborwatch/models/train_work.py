"""`neighborwatch train`: WORK folder → trained model directory, for any registered detector.

Reads the sequences of WORK, the train and validation splits only (the test split is never
loaded here), joins labels for those two splits (detectors that are unsupervised ignore them),
fits the detector with model selection on the validation period and saves it, with the training
period's familiarity profile (`sequences.familiarity`) for the live alerts' reasons. LAN is the
default; its configuration has its own helper (`build_config`: paper defaults ← JSON file ←
command-line options). It sits at the top of `models` because it drives any detector.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neighborwatch.models.base import Detector
from neighborwatch.models.lan.config import PRESETS, LANConfig
from neighborwatch.models.lan.detector import LAN
from neighborwatch.models.registry import detector_class
from neighborwatch.progress import console
from neighborwatch.workdir import WorkDir, write_json


def build_config(config_file: Path | None = None, preset: str | None = None, **overrides: Any) -> LANConfig:
    """A preset of LAN (default: quick) or a JSON file ← command-line options (None = not given)."""
    if config_file and preset:
        raise ValueError("give either --preset or --config (a config file holds every setting)")
    if config_file:
        cfg = LANConfig.from_json(config_file)
    elif (preset or "quick") in PRESETS:
        cfg = LANConfig.from_preset(preset or "quick")
    else:
        cfg = LANConfig().replace(**LAN.presets[preset])  # type: ignore[index]
    return cfg.replace(**{k: v for k, v in overrides.items() if v is not None})


def _print_epoch(row: dict[str, Any]) -> None:
    metric = " ".join(f"{k}={row[k]:.4f}" for k in ("val_auc", "val_loglik") if k in row)
    console.print(
        f"epoch {row['epoch']}: loss={row['loss']:.4f} {metric} "
        f"{row['samples_per_s']:.0f} samples/s ({row['samples_per_cpu_s']:.0f} per CPU-s), "
        f"pool refresh {row['pool_s']:.0f} s, edge density {row.get('edge_density', 1):.2f}"
        f"{' (best so far)' if row['best'] else ''}",
        markup=False,
    )


def train_work(
    work: str | Path,
    out: str | Path,
    detector: LANConfig | str = "lan",
    params: Mapping[str, Any] | None = None,
    seed: int | None = None,
    kind: str = "session",
) -> dict[str, Any]:
    """Fit `detector` (a registered name with its `params`, or a ready LAN config) and save it."""
    from neighborwatch.data.labels import row_labels
    from neighborwatch.sequences.base import activity_labels
    from neighborwatch.sequences.build import load_sequences
    from neighborwatch.sequences.familiarity import build_familiarity

    wd = WorkDir(work).require()
    seqs = load_sequences(wd, kind)
    train, validation = seqs.split("train"), seqs.split("validation")
    if len(train) == 0:
        raise ValueError(f"{work} has no training sequences")
    if isinstance(detector, LANConfig):
        if detector.vocab_size != seqs.vocab_size:  # the WORK's tokenizer decides (own logs: action-hour)
            detector = detector.replace(vocab_size=seqs.vocab_size)
        det: Detector = LAN(detector if seed is None else detector.replace(seed=seed))
    else:
        det = detector_class(detector).create(params, seed=42 if seed is None else seed, vocab_size=train.vocab_size)
    malicious, _ = row_labels(wd)
    y_train = activity_labels(train, malicious)
    y_val = activity_labels(validation, malicious) if len(validation) else None
    console.print(
        f"training {_describe(det)} on {train.n_activities:,} activities in {len(train):,} {kind}s "
        f"({int(y_train.sum()):,} malicious); validation {validation.n_activities:,} activities "
        f"({int(y_val.sum()) if y_val is not None else 0:,} malicious)"
    )
    # a detector that reports its epochs (LAN) prints them as they finish
    hooks = {"on_epoch": _print_epoch} if "on_epoch" in inspect.signature(det.fit).parameters else {}
    t0 = time.perf_counter()
    det.fit(train, y_train, validation if len(validation) else None, y_val, **hooks)
    seconds = time.perf_counter() - t0
    det.save(out)
    # what each user and peer group did in training: the live alerts' "first time" / "rare among
    # peers" reasons (label-blind, training split only)
    familiarity = build_familiarity(wd, seqs).save(out)
    summary: dict[str, Any] = {
        "work": str(work),
        "kind": kind,
        "detector": det.name,
        "device": str(getattr(det, "device", "cpu")),
        "train_seconds": round(seconds, 2),
        "train_activities": int(train.n_activities),
        "validation_activities": int(validation.n_activities),
        "epochs": getattr(det, "history", []),
        "familiarity": str(familiarity),
    }
    if isinstance(det, LAN):
        pool, _, index = det._require_fitted()  # saved above, so fitted
        summary.update(best_epoch=det.best_epoch, pool_size=len(pool), exact_index=index.exact)
    write_json(Path(out) / "train.json", summary)
    console.print(f"{det.name} trained; saved to {out} ({seconds:.1f} s)")
    return summary


def _describe(det: Detector) -> str:
    if isinstance(det, LAN):
        c = det.config
        return f"LAN (preset {c.preset or 'none'}, {c.mode}, {c.encoder}/{c.pooling}/{c.gnn}, k={c.k})"
    return det.name
