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


def select_pool(
    seqs: SequenceSet, labels: np.ndarray, max_pool: int = 0, seed: int = 0, hashes: np.ndarray | None = None
) -> PrefixPool:
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

    def __init__(
        self,
        vectors: np.ndarray,
        hashes: np.ndarray,
        exact_below: int = 20_000,
        m: int = 64,
        ef_search: int = 128,
        index: faiss.Index | None = None,
    ) -> None:
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

    def search(
        self,
        queries: np.ndarray,
        n: int,
        query_hashes: np.ndarray | None = None,
        chunk: int = 65_536,
        *,
        query_groups: np.ndarray | None = None,
        groups: np.ndarray | None = None,
    ) -> np.ndarray:
        """[Q, n] pool ids of the n most similar pool prefixes per query (raw query vectors).

        With `query_hashes`, a pool prefix whose tokens equal the query's is skipped. With
        `query_groups` and `groups` (one id per pool prefix, e.g. its training session), a pool
        prefix of the query's own group is skipped (training: no prefix of the query's own
        session). Skipped candidates are replaced by fetching more (doubling until enough or
        the whole pool). Missing results (pool too small / HNSW shortfall) repeat the best
        neighbour so that every graph has the same number of nodes.
        """
        if (query_groups is None) != (groups is None):
            raise ValueError("query_groups and groups go together")
        extra = (1 if query_hashes is not None else 0) + (n if groups is not None else 0)
        out = np.empty((len(queries), n), dtype=np.int64)
        for s in range(0, len(queries), chunk):
            sl = slice(s, s + chunk)
            out[sl] = self._search_chunk(
                _normalise(queries[sl]),
                n,
                min(n + extra, self.size),
                None if query_hashes is None else query_hashes[sl],
                None if query_groups is None else query_groups[sl],
                groups,
            )
        return out

    def _search_chunk(
        self,
        queries: np.ndarray,
        n: int,
        want: int,
        query_hashes: np.ndarray | None,
        query_groups: np.ndarray | None,
        groups: np.ndarray | None,
    ) -> np.ndarray:
        _, ids = self.index.search(queries, want)
        skip = ids < 0
        if query_hashes is not None:
            skip |= self.hashes[np.maximum(ids, 0)] == query_hashes[:, None]
        if groups is not None and query_groups is not None:  # they go together (neighbour_ids)
            skip |= groups[np.maximum(ids, 0)] == query_groups[:, None]
        out = first_allowed(ids, skip, n)
        short = (~skip).sum(axis=1) < n
        if short.any() and want < self.size and groups is not None and query_groups is not None:
            rows = np.flatnonzero(short)
            out[rows] = self._search_chunk(
                queries[rows],
                n,
                min(2 * want, self.size),
                None if query_hashes is None else query_hashes[rows],
                query_groups[rows],
                groups,
            )
        return out


def first_allowed(ids: np.ndarray, skip: np.ndarray, n: int) -> np.ndarray:
    """The first n ids of each row that are not skipped, in order; a short row repeats its best
    allowed id (or id 0 when none is allowed), so every row has exactly n."""
    order = np.argsort(skip, axis=1, kind="stable")  # allowed first, in their original order
    ids = np.take_along_axis(ids, order, axis=1)[:, :n]
    missing = np.take_along_axis(skip, order, axis=1)[:, :n]
    if ids.shape[1] < n:
        pad = n - ids.shape[1]
        ids = np.concatenate([ids, np.zeros((len(ids), pad), np.int64)], axis=1)
        missing = np.concatenate([missing, np.ones((len(ids), pad), bool)], axis=1)
    if missing.any():
        best = np.where(missing[:, :1], 0, ids[:, :1])
        ids = np.where(missing, best, ids)
    return ids


def random_neighbours(query_hashes: np.ndarray, n: int, pool_size: int) -> np.ndarray:
    """[Q, n] pool ids drawn pseudo-randomly from each query's prefix hash (splitmix64).

    A fixed function of the prefix's tokens, so that batch and streaming scoring, and every
    epoch of training, give the same prefix the same random neighbours.
    """
    with np.errstate(over="ignore"):
        x = np.asarray(query_hashes, dtype=np.int64).view(np.uint64)[:, None] + (
            np.arange(1, n + 1, dtype=np.uint64)[None, :] * np.uint64(0x9E3779B97F4A7C15)
        )
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x % np.uint64(pool_size)).astype(np.int64)
