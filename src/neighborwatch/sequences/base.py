"""`SequenceSet`: many activity sequences in flat arrays (no Python object per sequence).

Sequence `s` occupies positions `offsets[s]:offsets[s+1]` of the flat arrays. Each position is
one activity: its token, the row of the event in `events.parquet` it came from (so labels and raw
log lines can be joined back), and its time. `meta` has one row per sequence.

Raw events vs positions (why both): the repeat collapse and the start-of-session token are INPUT
transformations. Ground truth and metrics live on the raw events of `events.parquet`: every raw
event of a sequence is *scored by* exactly one position — its own, or, for a collapsed repeat, the
kept position of the activity it repeats — and a start-of-session (BOS) position stands for no
raw event (`event_rows` -1). `repeats[p]` says how many raw events position `p` scores; the raw
events themselves (`raw_rows`, `raw_times`) are stored in sequence order, so raw event `r` is
scored by position `raw_positions()[r]`. Without a collapse the arrays are implied (every non-BOS
position scores itself) and not stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from neighborwatch.data.schema import DType

META_SCHEMA: dict[str, DType] = {
    "seq_id": pl.Int64,  # position in this set, 0..n-1
    "user": pl.Utf8,
    "host": pl.Utf8,  # the PC for sessions; null for user-days
    "start": pl.Datetime("us"),  # time of the first event
    "end": pl.Datetime("us"),
    "length": pl.Int32,
    "split": pl.Utf8,  # train | validation | test (| none)
}


def segment_positions(offsets: np.ndarray, seq_ids: np.ndarray) -> np.ndarray:
    """The flat positions of segments `seq_ids` (segment s = `offsets[s]:offsets[s+1]`), in that order."""
    seq_ids = np.asarray(seq_ids, dtype=np.int64)
    lengths = offsets[seq_ids + 1] - offsets[seq_ids]
    cum = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return (np.repeat(offsets[seq_ids] - cum[:-1], lengths) + np.arange(cum[-1])).astype(np.int64)


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
    repeats: np.ndarray | None = None  # int32 [N] raw events each position scores (None: implied)
    raw_rows: np.ndarray | None = None  # int64 [R] events.parquet row of every raw event, in order
    raw_times: np.ndarray | None = None  # int64 [R] epoch microseconds of every raw event

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
        if (self.repeats is None) != (self.raw_rows is None) or (self.raw_rows is None) != (self.raw_times is None):
            raise ValueError("repeats, raw_rows and raw_times come together (or not at all)")
        if self.repeats is not None:
            self.repeats = np.asarray(self.repeats, dtype=np.int32)
            self.raw_rows = np.asarray(self.raw_rows, dtype=np.int64)
            self.raw_times = np.asarray(self.raw_times, dtype=np.int64)
            if (
                len(self.repeats) != len(self.tokens)
                or int(self.repeats.sum()) != len(self.raw_rows)
                or len(self.raw_rows) != len(self.raw_times)
            ):
                raise ValueError("repeats must have one entry per position and sum to len(raw_rows)")

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

    def position_users(self) -> np.ndarray:
        """For every flat position, the account of its sequence (str; '' where the user is null)."""
        return np.repeat(self.meta["user"].fill_null("").to_numpy().astype(str), self.lengths)

    def position_in_sequence(self) -> np.ndarray:
        """For every flat position, its index inside its sequence (0 = first activity)."""
        return np.arange(self.n_activities, dtype=np.int64) - np.repeat(self.offsets[:-1], self.lengths)

    # -- raw events --------------------------------------------------------------------------
    @property
    def bos(self) -> int:
        """The start-of-session token prepended to every sequence, 0 when there is none."""
        return int(self.extra.get("bos") or 0)

    @property
    def start_tokens(self) -> int:
        """How many start tokens there are: `bos .. bos + start_tokens - 1` (one per peer group
        with `prepare --start-token peer`, see `sequences.peers`; else 1; 0 without BOS)."""
        return int(self.extra.get("start_tokens") or 1) if self.bos else 0

    def is_start(self) -> np.ndarray:
        """Per position: whether it is a start token (input only, it stands for no raw event)."""
        if not self.bos:
            return np.zeros(self.n_activities, dtype=bool)
        return self.tokens >= self.bos

    def raw_counts(self) -> np.ndarray:
        """Per position: how many raw events it scores (1 + collapsed repeats; 0 for BOS)."""
        if self.repeats is not None:
            return self.repeats
        if self.bos:
            return (~self.is_start()).astype(np.int32)
        return np.ones(self.n_activities, dtype=np.int32)

    def raw_positions(self) -> np.ndarray:
        """For every raw event (in sequence order): the flat position that scores it."""
        return np.repeat(np.arange(self.n_activities, dtype=np.int64), self.raw_counts())

    def raw_event_rows(self) -> np.ndarray:
        """events.parquet row of every raw event (-1 where a set has no rows, e.g. toy data)."""
        return self.raw_rows if self.raw_rows is not None else self.event_rows[self.raw_positions()]

    def raw_event_times(self) -> np.ndarray:
        return self.raw_times if self.raw_times is not None else self.times[self.raw_positions()]

    def raw_offsets(self) -> np.ndarray:
        """Sequence `s` holds raw events `raw_offsets()[s]:raw_offsets()[s+1]`."""
        cum = np.concatenate([[0], np.cumsum(self.raw_counts(), dtype=np.int64)])
        return cum[self.offsets]

    def raw_seq_index(self) -> np.ndarray:
        """For every raw event, the sequence it belongs to."""
        return np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.raw_offsets()))

    def raw_values(self, per_row: np.ndarray, fill: object = 0) -> np.ndarray:
        """`per_row[events.parquet row]` for every raw event (`fill` where the row is unknown)."""
        rows = self.raw_event_rows()
        per_row = np.asarray(per_row)
        out = np.full(len(rows), fill, dtype=per_row.dtype)
        ok = rows >= 0
        out[ok] = per_row[rows[ok]]
        return out

    # -- selection ---------------------------------------------------------------------------
    def subset(self, seq_ids: np.ndarray) -> SequenceSet:
        """The sequences at `seq_ids` (in that order), renumbered 0..k-1."""
        seq_ids = np.asarray(seq_ids, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(self.lengths[seq_ids])]).astype(np.int64)
        idx = segment_positions(self.offsets, seq_ids)
        meta = self.meta[seq_ids.tolist()] if len(seq_ids) else self.meta.clear()
        meta = meta.with_columns(pl.arange(0, len(seq_ids), dtype=pl.Int64).alias("seq_id"))
        raw: dict[str, np.ndarray | None] = {"repeats": None, "raw_rows": None, "raw_times": None}
        if self.repeats is not None:
            assert self.raw_rows is not None and self.raw_times is not None  # stored with `repeats`
            ridx = segment_positions(self.raw_offsets(), seq_ids)
            raw = {
                "repeats": self.repeats[idx],
                "raw_rows": self.raw_rows[ridx],
                "raw_times": self.raw_times[ridx],
            }
        return SequenceSet(
            tokens=self.tokens[idx],
            offsets=offsets,
            event_rows=self.event_rows[idx],
            times=self.times[idx],
            meta=meta,
            kind=self.kind,
            vocab_size=self.vocab_size,
            extra=dict(self.extra),
            **raw,  # type: ignore[arg-type]
        )

    def without_start(self) -> SequenceSet:
        """The same sequences without their BOS positions (for detectors that read tokens as
        word × hour counts, where a start token is no activity); identity when there is none."""
        if not self.bos:
            return self
        keep = ~self.is_start()
        cum = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
        extra = {**self.extra, "bos": 0, "start_tokens": 0}
        return SequenceSet(
            tokens=self.tokens[keep],
            offsets=cum[self.offsets],
            event_rows=self.event_rows[keep],
            times=self.times[keep],
            meta=self.meta,
            kind=self.kind,
            vocab_size=self.vocab_size,
            extra=extra,
            repeats=None if self.repeats is None else self.repeats[keep],
            raw_rows=self.raw_rows,
            raw_times=self.raw_times,
        )

    def split(self, name: str) -> SequenceSet:
        ids = np.flatnonzero((self.meta["split"] == name).to_numpy())
        return self.subset(ids)

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        raw: dict[str, np.ndarray] = {}
        if self.repeats is not None:
            assert self.raw_rows is not None and self.raw_times is not None  # they come together
            raw = {"repeats": self.repeats, "raw_rows": self.raw_rows, "raw_times": self.raw_times}
        # numpy's stub lets **arrays fill its allow_pickle: bool
        np.savez(
            path / "arrays.npz",
            tokens=self.tokens,
            offsets=self.offsets,
            event_rows=self.event_rows,
            times=self.times,
            **raw,  # type: ignore[arg-type]
        )
        self.meta.write_parquet(path / "meta.parquet")
        import json

        (path / "set.json").write_text(
            json.dumps({"kind": self.kind, "vocab_size": self.vocab_size, "extra": self.extra}, indent=2)
        )

    @classmethod
    def load(cls, path: str | Path) -> SequenceSet:
        import json

        path = Path(path)
        if not (path / "arrays.npz").exists():
            raise FileNotFoundError(f"no sequence set at {path}")
        with np.load(path / "arrays.npz", allow_pickle=False) as z:
            arrays = {
                k: z[k]
                for k in ("tokens", "offsets", "event_rows", "times", "repeats", "raw_rows", "raw_times")
                if k in z
            }
        info = json.loads((path / "set.json").read_text())
        return cls(
            meta=pl.read_parquet(path / "meta.parquet"),
            kind=info["kind"],
            vocab_size=info["vocab_size"],
            extra=info.get("extra", {}),
            **arrays,
        )


def raw_labels(seqs: SequenceSet, row_malicious: np.ndarray) -> np.ndarray:
    """Ground truth of every raw event (in `raw_positions` order) from a per-event-row array."""
    return seqs.raw_values(np.asarray(row_malicious, dtype=bool), False)


def activity_labels(seqs: SequenceSet, row_malicious: np.ndarray) -> np.ndarray:
    """Per-position ground truth from a per-event-row boolean array (see `labels.row_labels`):
    a position is malicious iff a raw event it scores is (itself or a collapsed repeat of it), so
    `sequence_labels` of these equals "the sequence holds a malicious raw event"; BOS is normal."""
    raw = raw_labels(seqs, row_malicious)
    return np.bincount(seqs.raw_positions(), weights=raw, minlength=seqs.n_activities) > 0


def activity_scenarios(seqs: SequenceSet, row_scenario: np.ndarray) -> np.ndarray:
    """Per position: the highest scenario among the raw events it scores (0 = none, e.g. BOS)."""
    out = np.zeros(seqs.n_activities, dtype=np.int64)
    np.maximum.at(out, seqs.raw_positions(), seqs.raw_values(np.asarray(row_scenario), 0).astype(np.int64))
    return out


def sequence_labels(seqs: SequenceSet, activity_malicious: np.ndarray) -> np.ndarray:
    """A sequence is malicious iff it contains a malicious activity."""
    if seqs.n_activities == 0:
        return np.zeros(len(seqs), dtype=bool)
    counts = np.add.reduceat(activity_malicious.astype(np.int64), seqs.offsets[:-1]) if len(seqs) else np.zeros(0)
    counts[seqs.lengths == 0] = 0
    return counts > 0
