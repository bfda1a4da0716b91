"""Joining the separate labels table back to event rows (evaluation and training loss only)."""

from __future__ import annotations

import numpy as np
import polars as pl

from neighborwatch.workdir import WorkDir


def row_labels(work: WorkDir | str) -> tuple[np.ndarray, np.ndarray]:
    """Per row of events.parquet: (malicious bool array, scenario int8 array, 0 = none)."""
    work = WorkDir(work) if not isinstance(work, WorkDir) else work
    ids = pl.read_parquet(work.events, columns=["event_id"]).with_row_index("row")
    n = ids.height
    malicious = np.zeros(n, dtype=bool)
    scenario = np.zeros(n, dtype=np.int8)
    if not work.labels.exists():
        return malicious, scenario
    labels = pl.read_parquet(work.labels).filter(pl.col("malicious"))
    joined = ids.join(labels.select("event_id", "scenario"), on="event_id", how="inner")
    rows = joined["row"].to_numpy()
    malicious[rows] = True
    scenario[rows] = joined["scenario"].fill_null(0).cast(pl.Int8).to_numpy()
    return malicious, scenario
