"""Cutting sequences into bounded-length chunks, the unit every neural post-hoc baseline sees.

User-days and long sessions can hold hundreds of activities; recurrent and attention models on
CPU want a fixed cap. Instead of truncating (which could cut the malicious part away), each
sequence becomes consecutive chunks of at most `max_len` activities; models score chunks and the
detector reduces chunk scores to one score per sequence (see `reduce_chunks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from neighborwatch.sequences.base import SequenceSet


@dataclass
class Chunks:
    seq: np.ndarray  # int64 [m] sequence each chunk belongs to
    start: np.ndarray  # int64 [m] flat start position
    length: np.ndarray  # int64 [m] number of activities (1..max_len)
    tokens: np.ndarray  # int32 flat tokens of the source SequenceSet
    n_sequences: int

    def __len__(self) -> int:
        return len(self.seq)

    def batch(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded LongTensor [B, L] (0 = padding) and lengths [B] of the chunks at `idx`."""
        lengths = self.length[idx]
        width = int(lengths.max()) if len(idx) else 1
        cols = np.arange(width)
        pos = self.start[idx, None] + cols[None, :]
        valid = cols[None, :] < lengths[:, None]
        out = np.where(valid, self.tokens[np.where(valid, pos, 0)], 0)
        return torch.from_numpy(out.astype(np.int64)), torch.from_numpy(lengths.astype(np.int64))

    def select(self, keep: np.ndarray) -> Chunks:
        """The chunks where `keep` (bool mask or indices) holds."""
        return Chunks(self.seq[keep], self.start[keep], self.length[keep], self.tokens, self.n_sequences)

    def labels(self, activity_labels: np.ndarray) -> np.ndarray:
        """Chunk label = the chunk contains a malicious activity (per-position labels given)."""
        cum = np.concatenate([[0], np.cumsum(np.asarray(activity_labels, dtype=np.int64))])
        return (cum[self.start + self.length] - cum[self.start]) > 0


def make_chunks(seqs: SequenceSet, max_len: int) -> Chunks:
    if max_len < 2:
        raise ValueError(f"max_len must be at least 2, got {max_len}")
    lengths = seqs.lengths
    n_chunks = -(-lengths // max_len)  # ceil; 0 for empty sequences
    seq = np.repeat(np.arange(len(seqs), dtype=np.int64), n_chunks)
    first = np.repeat(np.cumsum(n_chunks) - n_chunks, n_chunks)
    k = np.arange(len(seq), dtype=np.int64) - first  # chunk index inside its sequence
    start = seqs.offsets[:-1][seq] + k * max_len
    end = np.minimum(start + max_len, seqs.offsets[1:][seq])
    return Chunks(seq=seq, start=start, length=end - start, tokens=seqs.tokens, n_sequences=len(seqs))


def reduce_chunks(chunks: Chunks, chunk_scores: np.ndarray, how: str = "max") -> np.ndarray:
    """One score per sequence: max (default) or length-weighted mean of its chunk scores.

    Sequences without activities get 0 (nothing to be anomalous about).
    """
    out = np.zeros(chunks.n_sequences, dtype=np.float64)
    if not len(chunks):
        return out
    if how == "max":
        out[:] = -np.inf
        np.maximum.at(out, chunks.seq, chunk_scores)
        out[np.isinf(out)] = 0.0
    elif how == "mean":
        w = chunks.length.astype(np.float64)
        num = np.bincount(chunks.seq, weights=chunk_scores * w, minlength=chunks.n_sequences)
        den = np.bincount(chunks.seq, weights=w, minlength=chunks.n_sequences)
        out = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    else:
        raise ValueError(f"unknown chunk reduction {how!r} (max | mean)")
    return out
