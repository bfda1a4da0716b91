"""log2vec-style detector: a heterogeneous graph of sequences, random-walk node embeddings,
and a density outlier score (after Liu et al., "Log2vec: A Heterogeneous Graph Embedding Based
Approach for Detecting Cyber Threats within Enterprise", CCS 2019; r4.2 AUC 0.6563 in LAN).

log2vec builds a graph whose nodes are log entries linked by rules (same user and day in
chronological order, same host, same kind of operation, ...), embeds the nodes with biased
random walks + word2vec, and flags nodes that fall in small clusters. Here, at the granularity
the post-hoc task scores:
* **nodes** = sequences (sessions or user-days) of the training period AND the sequences being
  scored. The method is transductive: log2vec embeds every log entry of the data it inspects, so
  `score_sequences` rebuilds the graph over train ∪ scored sequences (no labels involved; the
  scored sequences never influence `fit`). Scores of a set therefore depend on the whole set
  scored with it (documented, not a bug: it is how log2vec works).
* **edges** (log2vec's rules at sequence granularity, weights 1 unless noted):
  (1) consecutive sequences of the same user in time (rule: a user's logs in order);
  (2) consecutive sequences on the same host (rule: same host; skipped for user-days);
  (3) each sequence to its `n_similar` most similar sequences by cosine of TF-IDF token
      histograms, weighted by that similarity (rule: same kind of operations).
* **embedding**: DeepWalk written as a matrix factorisation (Qiu et al., NetMF, WSDM 2018)
  instead of walks + skip-gram SGD: with S = D^-1/2 (A + I) D^-1/2, a random walk of window 2
  has co-occurrences ∝ (S + S²)/2, whose top eigenvectors (those of S, eigenvalues mapped by
  (λ + λ²)/2) scaled by the square root of those values give `dim`-dimensional embeddings,
  L2-normalised. Exact, deterministic (seeded Lanczos start vector) and fast on sparse graphs.
* **score**: mean cosine distance of a scored sequence to its `k` nearest training sequences in
  embedding space — log2vec's "far from the big clusters" rule without a clustering threshold.
  `k` is kept well above the number of near-duplicate malicious sequences a training period can
  hold, so a repeated attack pattern does not make itself look normal.
Unsupervised (labels ignored). Saved as plain arrays (`train_graph.npz`) + detector.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh

from neighborwatch.models.base import SEQUENCE, Detector, NotFittedError
from neighborwatch.models.manifest import read_manifest, register, write_manifest
from neighborwatch.models.options import DetectorConfig, configure, known_part
from neighborwatch.sequences.base import SequenceSet

ARRAYS = "train_graph.npz"
EXACT_LIMIT = 50_000  # up to this many nodes, neighbour searches are exact


@dataclass(frozen=True)
class Log2VecConfig(DetectorConfig):
    seed: int = 0
    dim: int = 32
    n_similar: int = 5
    k: int = 20
    max_train: int = 100_000  # training nodes kept in the graph (seeded subsample; CPU/memory)


def _counts(seqs: SequenceSet, vocab: int) -> sp.csr_matrix:
    data = np.ones(seqs.n_activities, dtype=np.float32)
    m = sp.csr_matrix((data, (seqs.seq_index(), seqs.tokens.astype(np.int64))), shape=(len(seqs), vocab))
    m.sum_duplicates()
    return m


def _knn(base: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Inner-product k nearest neighbours (similarities, indices), exact for small bases."""
    import faiss

    k = min(k, len(base))
    d = base.shape[1]
    index: faiss.Index
    if len(base) <= EXACT_LIMIT:
        index = faiss.IndexFlatIP(d)
    else:  # approximate search keeps CERT-scale graphs tractable on CPU
        hnsw = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efSearch = max(64, 2 * k)
        index = hnsw
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # a parallel HNSW build depends on thread timing: not reproducible
    try:
        index.add(np.ascontiguousarray(base, dtype=np.float32))
    finally:
        faiss.omp_set_num_threads(threads)
    sims, idx = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return sims, idx


def _chain_edges(keys: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges between consecutive nodes (by start time) that share a non-empty key."""
    order = np.lexsort((starts, keys))
    k = keys[order]
    same = (k[1:] == k[:-1]) & (k[1:] != "")
    return order[:-1][same], order[1:][same]


@register
class Log2Vec(Detector):
    name: ClassVar[str] = "log2vec"
    presets: ClassVar[dict[str, dict[str, Any]]] = {"fast": {"max_train": 5_000}}
    levels: ClassVar[frozenset[str]] = frozenset({SEQUENCE})

    def __init__(self, config: Log2VecConfig | None = None, **overrides: Any) -> None:
        self.config = configure(Log2VecConfig, config, overrides, self.name)
        self.vocab_size: int | None = None
        self._train: dict[str, np.ndarray] | None = None

    def fit(
        self,
        train: SequenceSet,
        train_labels: np.ndarray | None = None,
        validation: SequenceSet | None = None,
        validation_labels: np.ndarray | None = None,
    ) -> Log2Vec:
        if len(train) < 2:
            raise ValueError(f"{self.name}: needs at least 2 training sequences")
        if len(train) > self.config.max_train:
            rng = np.random.default_rng(self.config.seed)
            train = train.subset(np.sort(rng.choice(len(train), self.config.max_train, replace=False)))
        self.vocab_size = int(train.vocab_size)
        counts = _counts(train, self.vocab_size)
        self._train = {
            "data": counts.data,
            "indices": counts.indices.astype(np.int64),
            "indptr": counts.indptr.astype(np.int64),
            **self._node_keys(train),
        }
        return self

    @staticmethod
    def _node_keys(seqs: SequenceSet) -> dict[str, np.ndarray]:
        meta = seqs.meta
        users = meta["user"].fill_null("").cast(pl.Utf8).to_numpy().astype(str)
        hosts = (
            meta["host"].fill_null("").cast(pl.Utf8).to_numpy().astype(str)
            if "host" in meta.columns
            else np.full(len(seqs), "", dtype=str)
        )
        starts = (
            meta["start"].cast(pl.Int64).fill_null(0).to_numpy() if "start" in meta.columns else np.zeros(len(seqs))
        )
        return {"users": users, "hosts": hosts, "starts": starts.astype(np.int64)}

    # -- the graph and its embedding -----------------------------------------------------------
    def _embed(self, counts: sp.csr_matrix, keys: dict[str, np.ndarray]) -> np.ndarray:
        cfg = self.config
        n = counts.shape[0]
        n_train = int(len(self._train["indptr"]) - 1)  # type: ignore[index]
        # TF-IDF with document frequencies of the training nodes only
        df = np.asarray((counts[:n_train] > 0).sum(0)).ravel()
        idf = np.log((1 + n_train) / (1 + df)) + 1.0
        tfidf = counts.multiply(idf[None, :]).tocsr()
        norms = np.sqrt(np.asarray(tfidf.multiply(tfidf).sum(1)).ravel())
        tfidf = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ tfidf
        dense = tfidf.toarray().astype(np.float32)
        sims, idx = _knn(dense, dense, cfg.n_similar + 1)
        rows = np.repeat(np.arange(n), idx.shape[1])
        cols, w = idx.ravel(), np.clip(sims.ravel(), 0.0, None)
        ok = (cols >= 0) & (cols != rows)
        src, dst, wt = [rows[ok]], [cols[ok]], [w[ok]]
        for key in ("users", "hosts"):
            a, b = _chain_edges(keys[key], keys["starts"])
            src.append(a)
            dst.append(b)
            wt.append(np.ones(len(a), dtype=np.float64))
        s, d, ww = np.concatenate(src), np.concatenate(dst), np.concatenate(wt)
        adj = sp.coo_matrix((ww, (s, d)), shape=(n, n)).tocsr()
        adj = adj + adj.T + sp.identity(n, format="csr")
        deg = np.asarray(adj.sum(1)).ravel()
        dinv = sp.diags(1.0 / np.sqrt(deg))
        norm = (dinv @ adj @ dinv).tocsr()
        dim = min(cfg.dim, n - 2)
        v0 = np.random.default_rng(cfg.seed).standard_normal(n)
        vals, vecs = eigsh(norm, k=dim, which="LA", v0=v0, tol=1e-6)
        scale = np.sqrt(np.clip((vals + vals**2) / 2.0, 0.0, None))
        emb = vecs * scale[None, :]
        # eigenvector signs are arbitrary; fix them so that embeddings are reproducible
        emb *= np.sign(emb[np.abs(emb).argmax(0), np.arange(emb.shape[1])])[None, :]
        emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return emb.astype(np.float32)

    def score_sequences(self, seqs: SequenceSet) -> np.ndarray:
        if self._train is None:
            raise NotFittedError(self.name)
        if seqs.vocab_size != self.vocab_size:
            raise ValueError(f"{self.name} was fitted on vocab_size {self.vocab_size}, got {seqs.vocab_size}")
        if len(seqs) == 0:
            return np.zeros(0, dtype=np.float64)
        t = self._train
        n_train = len(t["indptr"]) - 1
        train_counts = sp.csr_matrix((t["data"], t["indices"], t["indptr"]), shape=(n_train, self.vocab_size))
        counts = sp.vstack([train_counts, _counts(seqs, self.vocab_size)]).tocsr()
        q = self._node_keys(seqs)
        keys = {k: np.concatenate([t[k], q[k]]) for k in ("users", "hosts", "starts")}
        emb = self._embed(counts, keys)
        sims, _ = _knn(emb[:n_train], emb[n_train:], self.config.k)
        return (1.0 - sims).mean(1).astype(np.float64)

    # -- persistence -----------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        if self._train is None:
            raise NotFittedError(self.name, "save")
        write_manifest(path, self.name, {**self.config.to_dict(), "vocab_size": self.vocab_size})
        # numpy's stub lets **arrays fill its allow_pickle: bool
        np.savez_compressed(Path(path) / ARRAYS, **self._train)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | Path) -> Log2Vec:
        manifest = read_manifest(path, expect=cls.name)
        cfg = manifest["config"]
        det = cls(Log2VecConfig.from_dict(known_part(Log2VecConfig, cfg), cls.name))
        det.vocab_size = int(cfg["vocab_size"])
        with np.load(Path(path) / ARRAYS, allow_pickle=False) as z:
            det._train = {k: z[k] for k in z.files}
        return det
