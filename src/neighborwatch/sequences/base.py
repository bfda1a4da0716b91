"""`SequenceSet`: many activity sequences in flat arrays (no Python object per sequence).

Sequence `s` occupies positions `offsets[s]:offsets[s+1]` of the flat arrays. Each position is
one activity: its token, the row of the event in `events.parquet` it came from (so labels and raw
log lines can be joined back), and its time. `meta` has one row per sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

META_SCHEMA: dict[str, pl.DataType] = {
    "seq_id": pl.Int64,  # position in this set, 0..n-1
    "user": pl.Utf8,
    "host": pl.Utf8,  # the PC for sessions; null for user-days
    "start": pl.Datetime("us"),  # time of the first event
    "end": pl.Datetime("us"),
    "length": pl.Int32,
    "split": pl.Utf8,  # train | validation | test (| none)
}


@dataclass
class SequenceSet:
    tokens: np.ndarray  # int32 [N] flat tokens, 0 is padding and never appears here
    offsets: np.ndarray  # int64 [n+1]
    event_rows: np.ndarray  # int64 [N] row in events.parquet, -1 if none
    times: np.ndarray  # int64 [N] epoch microseconds
    meta: pl.DataFrame  # one row per sequence, META_SCHEMA columns (+ extras allowed)
    kind: str = "session"  # 'session' or 'day'
    vocab_size: int = 169  # number of classes including padding 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tokens = np.asarray(self.tokens, dtype=np.int32)
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        self.event_rows = np.asarray(self.event_rows, dtype=np.int64)
        self.times = np.asarray(self.times, dtype=np.int64)
        n = len(self.offsets) - 1
        if n < 0 or self.offsets[0] != 0 or self.offsets[-1] != len(self.tokens):
            raise ValueError("offsets must start at 0 and end at len(tokens)")
        if not (len(self.tokens) == len(self.event_rows) == len(self.times)):
            raise ValueError("tokens, event_rows and times must have the same length")
        if self.meta.height != n:
            raise ValueError(f"meta has {self.meta.height} rows for {n} sequences")

    # -- shape -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_activities(self) -> int:
        return len(self.tokens)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sequence(self, s: int) -> np.ndarray:
        return self.tokens[self.offsets[s] : self.offsets[s + 1]]

    def seq_index(self) -> np.ndarray:
        """For every flat position, the sequence it belongs to."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.lengths)

    def position_in_sequence(self) -> np.ndarray:
        """For every flat position, its index inside its sequence (0 = first activity)."""
        return np.arange(self.n_activities, dtype=np.int64) - np.repeat(self.offsets[:-1], self.lengths)

    # -- selection ---------------------------------------------------------------------------
    def subset(self, seq_ids: np.ndarray) -> "SequenceSet":
        """The sequences at `seq_ids` (in that order), renumbered 0..k-1."""
        seq_ids = np.asarray(seq_ids, dtype=np.int64)
        lengths = self.lengths[seq_ids]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        starts = self.offsets[seq_ids]
        idx = (np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])).astype(np.int64)
        meta = self.meta[seq_ids.tolist()] if len(seq_ids) else self.meta.clear()
        meta = meta.with_columns(pl.arange(0, len(seq_ids), dtype=pl.Int64).alias("seq_id"))
        return SequenceSet(
            tokens=self.tokens[idx],
            offsets=offsets,
            event_rows=self.event_rows[idx],
            times=self.times[idx],
            meta=meta,
            kind=self.kind,
            vocab_size=self.vocab_size,
            extra=dict(self.extra),
        )

    def split(self, name: str) -> "SequenceSet":
        ids = np.flatnonzero((self.meta["split"] == name).to_numpy())
        return self.subset(ids)

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        np.savez(
            path / "arrays.npz",
            tokens=self.tokens,
            offsets=self.offsets,
            event_rows=self.event_rows,
            times=self.times,
        )
        self.meta.write_parquet(path / "meta.parquet")
        import json

        (path / "set.json").write_text(
            json.dumps({"kind": self.kind, "vocab_size": self.vocab_size, "extra": self.extra}, indent=2)
        )

    @classmethod
    def load(cls, path: str | Path) -> "SequenceSet":
        import json

        path = Path(path)
        if not (path / "arrays.npz").exists():
            raise FileNotFoundError(f"no sequence set at {path}")
        with np.load(path / "arrays.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("tokens", "offsets", "event_rows", "times")}
        info = json.loads((path / "set.json").read_text())
        return cls(meta=pl.read_parquet(path / "meta.parquet"), kind=info["kind"],
                   vocab_size=info["vocab_size"], extra=info.get("extra", {}), **arrays)


def activity_labels(seqs: SequenceSet, row_malicious: np.ndarray) -> np.ndarray:
    """Per-position ground truth from a per-event-row boolean array (see `labels.row_labels`)."""
    out = np.zeros(seqs.n_activities, dtype=bool)
    ok = seqs.event_rows >= 0
    out[ok] = row_malicious[seqs.event_rows[ok]]
    return out


def sequence_labels(seqs: SequenceSet, activity_malicious: np.ndarray) -> np.ndarray:
    """A sequence is malicious iff it contains a malicious activity."""
    if seqs.n_activities == 0:
        return np.zeros(len(seqs), dtype=bool)
    counts = np.add.reduceat(activity_malicious.astype(np.int64), seqs.offsets[:-1]) if len(seqs) else np.zeros(0)
    counts[seqs.lengths == 0] = 0
    return counts > 0
