"""Next-activity samples (prefix → next token, label) as flat arrays (LAN.md §2.8-2.9).

A sample is a pair (sequence `s`, position `i ≥ 1`) of a `SequenceSet`: its prefix is
`tokens[offsets[s] : offsets[s] + i]` and its target `tokens[offsets[s] + i]`. Built sequences
start with a BOS token, so `i = 1` is the session's first real activity, predicted from "a
session starts here" (position 0, BOS itself, is never a target). Samples are stored
as four parallel arrays, never one Python object (or one copied prefix) per sample, because r4.2
has tens of millions of them.

Labels only ever come in as an explicit per-activity argument (`activity_labels`, e.g. from
`sequences.base.activity_labels(seqs, row_labels(work)[0])`); nothing here reads the labels file.
Training uses labels twice, as the paper does: malicious sessions are kept whole, and the loss
treats malicious targets differently — both belong to the supervised part of training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neighborwatch.sequences.base import SequenceSet, sequence_labels

DEFAULT_SEED = 42  # the paper's seed
NORMAL_RATE = 0.5
OVERSAMPLE_RATIO = 0.1


@dataclass
class Samples:
    seq: np.ndarray  # int64 [M] sequence index in the SequenceSet
    pos: np.ndarray  # int64 [M] position of the target inside its sequence, >= 1
    target: np.ndarray  # int32 [M] token at that position
    label: np.ndarray | None  # bool [M] target is malicious; None when built without labels

    def __post_init__(self) -> None:
        self.seq = np.asarray(self.seq, dtype=np.int64)
        self.pos = np.asarray(self.pos, dtype=np.int64)
        self.target = np.asarray(self.target, dtype=np.int32)
        if self.label is not None:
            self.label = np.asarray(self.label, dtype=bool)
        n = len(self.seq)
        if len(self.pos) != n or len(self.target) != n or (self.label is not None and len(self.label) != n):
            raise ValueError("seq, pos, target and label must have the same length")

    def __len__(self) -> int:
        return len(self.seq)

    @property
    def n_malicious(self) -> int:
        return int(self.label.sum()) if self.label is not None else 0

    def flat_index(self, seqs: SequenceSet) -> np.ndarray:
        """Flat position of each target in `seqs` (also its prefix end, exclusive)."""
        return seqs.offsets[self.seq] + self.pos

    def subset(self, idx: np.ndarray) -> Samples:
        return Samples(self.seq[idx], self.pos[idx], self.target[idx], None if self.label is None else self.label[idx])

    def prefixes(
        self, seqs: SequenceSet, idx: np.ndarray | None = None, max_len: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Right-padded prefix matrix (int32 [B, L], 0 = padding) and prefix lengths for samples
        `idx` (all if None). Prefixes longer than `max_len` keep their last `max_len` tokens."""
        idx = np.arange(len(self)) if idx is None else np.asarray(idx, dtype=np.int64)
        end = self.flat_index(seqs)[idx]
        length = self.pos[idx]
        if max_len is not None:
            length = np.minimum(length, max_len)
        width = int(length.max()) if len(length) else 0
        cols = np.arange(width, dtype=np.int64)
        start = end - length
        valid = cols[None, :] < length[:, None]
        flat = np.where(valid, start[:, None] + cols[None, :], 0)
        out = np.where(valid, seqs.tokens[flat], 0).astype(np.int32)
        return out, length

    def save(self, path: str | Path) -> None:
        arrays = {"seq": self.seq, "pos": self.pos, "target": self.target}
        if self.label is not None:
            arrays["label"] = self.label
        # numpy's stub lets **arrays fill its allow_pickle: bool
        np.savez(path, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | Path) -> Samples:
        with np.load(path, allow_pickle=False) as z:
            return cls(z["seq"], z["pos"], z["target"], z["label"] if "label" in z else None)


def _positions(seqs: SequenceSet) -> tuple[np.ndarray, np.ndarray]:
    """(sequence index, position) of every flat position with position >= 1."""
    pos = seqs.position_in_sequence()
    keep = pos >= 1
    return seqs.seq_index()[keep], pos[keep]


def _check_labels(seqs: SequenceSet, activity_labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(activity_labels, dtype=bool)
    if labels.shape != (seqs.n_activities,):
        raise ValueError(
            f"activity_labels must have one entry per activity ({seqs.n_activities}), got shape {labels.shape}"
        )
    return labels


def evaluation_samples(seqs: SequenceSet, activity_labels: np.ndarray | None = None) -> Samples:
    """Every position i >= 1 of every sequence (validation, test, or unlabelled scoring)."""
    seq, pos = _positions(seqs)
    flat = seqs.offsets[seq] + pos
    label = None if activity_labels is None else _check_labels(seqs, activity_labels)[flat]
    return Samples(seq, pos, seqs.tokens[flat], label)


def training_samples(
    seqs: SequenceSet,
    activity_labels: np.ndarray,
    normal_rate: float = NORMAL_RATE,
    seed: int = DEFAULT_SEED,
) -> Samples:
    """Every position of sequences holding a malicious activity, and a seeded random
    `normal_rate` share of the positions of normal sequences (exactly round(rate × count),
    drawn without replacement, kept in flat order)."""
    if not 0.0 <= normal_rate <= 1.0:
        raise ValueError(f"normal_rate must be in [0, 1], got {normal_rate}")
    labels = _check_labels(seqs, activity_labels)
    bad_seq = sequence_labels(seqs, labels)
    seq, pos = _positions(seqs)
    from_bad = bad_seq[seq]
    normal_idx = np.flatnonzero(~from_bad)
    k = int(round(normal_rate * len(normal_idx)))
    rng = np.random.default_rng(seed)
    chosen = (
        np.sort(rng.choice(len(normal_idx), size=k, replace=False))
        if k < len(normal_idx)
        else np.arange(len(normal_idx))
    )
    keep = np.zeros(len(seq), dtype=bool)
    keep[from_bad] = True
    keep[normal_idx[chosen]] = True
    seq, pos = seq[keep], pos[keep]
    flat = seqs.offsets[seq] + pos
    return Samples(seq, pos, seqs.tokens[flat], labels[flat])


def oversample(samples: Samples, ratio: float = OVERSAMPLE_RATIO, seed: int = DEFAULT_SEED) -> Samples:
    """Repeat abnormal-target samples until they number round(ratio × normal ones).

    Whole copies first, then a seeded random draw without replacement for the remainder, so each
    abnormal sample appears either q or q+1 times. No-op when there are no abnormal samples or
    already enough. The originals come first, the added copies after them.
    """
    if samples.label is None:
        raise ValueError("oversample needs labelled samples")
    if ratio < 0:
        raise ValueError(f"ratio must be >= 0, got {ratio}")
    bad = np.flatnonzero(samples.label)
    n_normal = len(samples) - len(bad)
    goal = int(round(ratio * n_normal))
    if len(bad) == 0 or goal <= len(bad):
        return samples
    extra = goal - len(bad)
    q, r = divmod(extra, len(bad))
    rng = np.random.default_rng(seed)
    added = np.concatenate([np.tile(bad, q), np.sort(rng.choice(bad, size=r, replace=False))])
    return samples.subset(np.concatenate([np.arange(len(samples)), added]))
