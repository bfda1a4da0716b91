"""Neighbour pool and inner-product search (LAN.md §3.2).

The pool is the set of distinct normal training prefixes (prefixes whose next activity is
normal), identified by a 64-bit rolling hash of their tokens. Their pooled vectors are stored
raw (they are the GNN's node features in fast mode) and L2-normalised inside the index, so that
inner product = cosine. Large pools use FAISS HNSW (M = 64); small ones an exact IndexFlatIP.

The rolling hash lets a streaming scorer identify a prefix in O(1) per event
(`hash_step(previous, token)`), which `exclude_identical` needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from neighborwatch.sequences.base import SequenceSet

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
EMPTY_HASH = np.int64(_FNV_OFFSET.view(np.int64))


def hash_step(previous: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Hash of (prefix + token) from the prefix's hash (FNV-1a over whole tokens), vectorised."""
    h = np.asarray(previous, dtype=np.int64).view(np.uint64) ^ np.asarray(tokens, dtype=np.uint64)
    return (h * _FNV_PRIME).view(np.int64)


def prefix_hashes(seqs: SequenceSet) -> np.ndarray:
    """int64 per flat position p: the hash of its sequence's tokens up to and including p."""
    out = np.empty(seqs.n_activities, dtype=np.int64)
    lengths = seqs.lengths
    starts = seqs.offsets[:-1]
    prev = np.full(len(seqs), EMPTY_HASH, dtype=np.int64)
    for t in range(int(lengths.max()) if len(seqs) else 0):
        alive = np.flatnonzero(lengths > t)
        pos = starts[alive] + t
        prev[alive] = hash_step(prev[alive], seqs.tokens[pos])
        out[pos] = prev[alive]
    return out


@dataclass
class PrefixPool:
    """The pool's prefixes: identity (hash, where it came from) and, once encoded, vectors."""

    hashes: np.ndarray  # int64 [N] token hash of each distinct prefix
    ends: np.ndarray  # int64 [N] flat position (in the training set) of each prefix's last activity
    lengths: np.ndarray  # int64 [N] prefix length
    event_rows: np.ndarray  # int64 [N] events.parquet row of the last activity (traceable)
    vectors: np.ndarray | None = None  # float32 [N, H] raw pooled vectors

    def __len__(self) -> int:
        return len(self.hashes)


def select_pool(seqs: SequenceSet, labels: np.ndarray, max_pool: int = 0, seed: int = 0,
                hashes: np.ndarray | None = None) -> PrefixPool:
    """Distinct prefixes h[:i] (i ≥ 1) whose next activity h[i] is normal; first occurrence kept."""
    if labels.shape != (seqs.n_activities,):
        raise ValueError("labels must have one entry per flat position")
    hashes = prefix_hashes(seqs) if hashes is None else hashes
    pos = seqs.position_in_sequence()
    targets = np.flatnonzero((pos >= 1) & ~labels)
    ends = targets - 1
    _, first = np.unique(hashes[ends], return_index=True)
    ends = np.sort(ends[first])
    if max_pool and len(ends) > max_pool:
        ends = np.sort(np.random.default_rng(seed).choice(ends, max_pool, replace=False))
    return PrefixPool(hashes=hashes[ends], ends=ends, lengths=pos[ends] + 1, event_rows=seqs.event_rows[ends])


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class NeighbourIndex:
    """Inner-product search over L2-normalised pool vectors, optionally excluding identical prefixes."""

    def __init__(self, vectors: np.ndarray, hashes: np.ndarray, exact_below: int = 20_000,
                 m: int = 64, ef_search: int = 128, index: faiss.Index | None = None) -> None:
        if len(vectors) == 0:
            raise ValueError("the neighbour pool is empty (no normal training prefixes)")
        self.hashes = np.asarray(hashes, dtype=np.int64)
        self.size = len(vectors)
        if index is None:
            d = vectors.shape[1]
            if len(vectors) < exact_below:
                index = faiss.IndexFlatIP(d)
            else:
                index = faiss.IndexHNSWFlat(d, m, faiss.METRIC_INNER_PRODUCT)
                index.hnsw.efConstruction = 40  # FAISS's default; the paper fixes only M
            index.add(_normalise(vectors))
        if isinstance(index, faiss.IndexHNSWFlat):
            index.hnsw.efSearch = ef_search
        self.index = index

    @property
    def exact(self) -> bool:
        return isinstance(self.index, faiss.IndexFlat)

    def search(self, queries: np.ndarray, n: int, query_hashes: np.ndarray | None = None,
               chunk: int = 65_536) -> np.ndarray:
        """[Q, n] pool ids of the n most similar pool prefixes per query (raw query vectors).

        With `query_hashes`, a pool prefix whose tokens equal the query's is skipped (one extra
        candidate is fetched to replace it). Missing results (pool too small / HNSW shortfall)
        repeat the best neighbour so that every graph has the same number of nodes.
        """
        extra = 1 if query_hashes is not None else 0
        want = min(n + extra, self.size)
        out = np.empty((len(queries), n), dtype=np.int64)
        for s in range(0, len(queries), chunk):
            out[s : s + chunk] = self._search_chunk(queries[s : s + chunk], n, want, extra,
                                                    None if query_hashes is None else query_hashes[s : s + chunk])
        return out

    def _search_chunk(self, queries: np.ndarray, n: int, want: int, extra: int,
                      query_hashes: np.ndarray | None) -> np.ndarray:
        _, ids = self.index.search(_normalise(queries), want)
        if extra:
            same = (ids >= 0) & (self.hashes[np.maximum(ids, 0)] == query_hashes[:, None])
            order = np.argsort(same, axis=1, kind="stable")  # identical one moves to the end
            ids = np.take_along_axis(ids, order, axis=1)
            ids = np.where(np.sort(same, axis=1), -1, ids)
        ids = ids[:, :n]
        if ids.shape[1] < n:
            ids = np.concatenate([ids, np.full((len(ids), n - ids.shape[1]), -1)], axis=1)
        missing = ids < 0
        if missing.any():
            best = np.where(ids[:, :1] >= 0, ids[:, :1], 0)
            ids = np.where(missing, best, ids)
        return ids
