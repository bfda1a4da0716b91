"""Tiny hand-made sequence sets with a planted anomaly, for fast unit tests of detectors.

Normal sessions: Logon at 8-9h, a few e-mail/web/file activities during office hours, Logoff.
Anomalous sessions (the insider): a night logon, a removable-device Connect, web uploads at
night, Disconnect — the kind of pattern scenario 1 of CERT plants. Only the activities of the
planted pattern are labelled malicious.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from neighborwatch.sequences.base import META_SCHEMA, SequenceSet

WORDS = ("Logon", "Logoff", "Connect", "Disconnect", "file", "email", "http")


def token(word: str, hour: int) -> int:
    return WORDS.index(word) * 24 + hour + 1


def _normal(rng: np.random.Generator) -> list[int]:
    h = int(rng.integers(8, 10))
    seq = [token("Logon", h)]
    for _ in range(int(rng.integers(3, 10))):
        h = min(17, h + int(rng.integers(0, 2)))
        seq.append(token(str(rng.choice(["email", "http", "http", "file"])), h))
    seq.append(token("Logoff", min(18, h + 1)))
    return seq


def _anomalous(rng: np.random.Generator) -> tuple[list[int], list[bool]]:
    h = int(rng.integers(0, 4))
    seq = [token("Logon", h), token("Connect", h)]
    seq += [token("http", h + 1) for _ in range(int(rng.integers(1, 3)))]
    seq += [token("Disconnect", h + 1), token("Logoff", h + 2)]
    return seq, [True] * len(seq)


def toy_split(
    n: int, anomaly_rate: float, rng: np.random.Generator, split: str, start_day: int
) -> tuple[SequenceSet, np.ndarray]:
    seqs, labels = [], []
    for _ in range(n):
        if rng.random() < anomaly_rate:
            s, lab = _anomalous(rng)
        else:
            s = _normal(rng)
            lab = [False] * len(s)
        seqs.append(s)
        labels.append(lab)
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    tokens = np.concatenate([np.array(s, dtype=np.int32) for s in seqs])
    base = np.datetime64("2010-01-04", "us").astype(np.int64) + start_day * 86_400_000_000
    seq_of = np.repeat(np.arange(n), lengths)
    pos = np.arange(len(tokens)) - np.repeat(offsets[:-1], lengths)
    times = base + seq_of * 3_600_000_000 + pos * 60_000_000
    meta = pl.DataFrame(
        {
            "seq_id": np.arange(n),
            "user": [f"U{i % 7:03d}" for i in range(n)],
            "host": [f"PC-{i % 5:04d}" for i in range(n)],
            "start": times[offsets[:-1]].astype("datetime64[us]"),
            "end": times[offsets[1:] - 1].astype("datetime64[us]"),
            "length": lengths.astype(np.int32),
            "split": [split] * n,
        },
        schema=META_SCHEMA,
    )
    out = SequenceSet(tokens=tokens, offsets=offsets, event_rows=np.arange(len(tokens)), times=times, meta=meta)
    return out, np.concatenate([np.array(lab, dtype=bool) for lab in labels])


def toy_data(
    seed: int = 0, n_train: int = 300, n_val: int = 80, n_test: int = 120, anomaly_rate: float = 0.05
) -> dict[str, tuple[SequenceSet, np.ndarray]]:
    """{'train'|'validation'|'test': (SequenceSet, per-activity labels)}."""
    rng = np.random.default_rng(seed)
    return {
        "train": toy_split(n_train, anomaly_rate, rng, "train", 0),
        "validation": toy_split(n_val, anomaly_rate * 2, rng, "validation", 100),
        "test": toy_split(n_test, anomaly_rate * 2, rng, "test", 200),
    }
