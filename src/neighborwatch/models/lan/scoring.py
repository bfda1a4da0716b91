"""Batch scoring with LAN: one encoder pass per session, one batched search, big head batches.

Because the encoder and pooling are causal, the pooled vector of every prefix of a session comes
out of a single pass over the session (`prefix_vectors`). The query of activity i (its prefix
h[:i]) is the vector at position i−1; its neighbours come from one FAISS batch search over all
queries; the graph head then runs in batches of `score_batch_size`.
"""

from __future__ import annotations

import numpy as np
import torch

from neighborwatch.models.lan.config import LANConfig
from neighborwatch.models.lan.model import LANModel, pad_prefixes
from neighborwatch.models.lan.retrieval import NeighbourIndex, prefix_hashes
from neighborwatch.progress import track
from neighborwatch.sequences.base import SequenceSet

_ATTENTION_ELEMENTS = 1 << 25  # bound on B·heads·T·T of one causal attention batch


def _session_batches(need: np.ndarray, cfg: LANConfig) -> list[tuple[int, int]]:
    """Split sessions (sorted by needed length, ascending) into [a, b) batches within budget."""
    heads = cfg.attention_heads if cfg.pooling == "attention" else 1
    batches, a = [], 0
    n = len(need)
    while a < n:
        b = a + 1
        while b < n:
            t = int(need[b])  # the longest so far, since `need` ascends
            rows = b + 1 - a
            if rows * t > cfg.encode_tokens or rows * heads * t * t > _ATTENTION_ELEMENTS:
                break
            b += 1
        batches.append((a, b))
        a = b
    return batches


def prefix_vectors(model: LANModel, seqs: SequenceSet, ends: np.ndarray, device: torch.device,
                   description: str = "encoding prefixes") -> np.ndarray:
    """float32 [len(ends), H]: pooled vector of the prefix that ends at each flat position.

    Each needed session is encoded once, up to its last needed position, in eval mode.
    """
    cfg = model.cfg
    ends = np.asarray(ends, dtype=np.int64)
    out = np.empty((len(ends), cfg.hidden), dtype=np.float32)
    if len(ends) == 0:
        return out
    seq_of = seqs.seq_index()[ends]
    pos = seqs.position_in_sequence()[ends]
    order = np.lexsort((pos, seq_of))
    sessions, first = np.unique(seq_of[order], return_index=True)
    need = np.maximum.reduceat(pos[order], first) + 1
    by_len = np.argsort(need, kind="stable")
    sessions, need = sessions[by_len], need[by_len]
    rank = np.empty(len(seqs), dtype=np.int64)
    rank[sessions] = np.arange(len(sessions))
    end_rank = rank[seq_of]
    end_order = np.argsort(end_rank, kind="stable")
    bounds = np.searchsorted(end_rank[end_order], np.arange(len(sessions) + 1))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for a, b in track(_session_batches(need, cfg), description):
                tokens, _ = pad_prefixes(seqs.tokens, seqs.offsets[sessions[a:b]], need[a:b])
                pooled = model.encode_all_prefixes(torch.from_numpy(tokens).to(device))
                which = end_order[bounds[a] : bounds[b]]
                rows = torch.from_numpy(end_rank[which] - a).to(device)
                cols = torch.from_numpy(pos[which]).to(device)
                out[which] = pooled[rows, cols].float().cpu().numpy()
    finally:
        model.train(was_training)
    return out


def neighbour_ids(index: NeighbourIndex, queries: np.ndarray, hashes: np.ndarray | None,
                  cfg: LANConfig) -> np.ndarray:
    """[Q, k-1] pool ids; identical-token pool prefixes are skipped when configured."""
    if cfg.k <= 1:
        return np.zeros((len(queries), 0), dtype=np.int64)
    return index.search(queries, cfg.k - 1, hashes if cfg.exclude_identical else None)


def head_probabilities(model: LANModel, queries: np.ndarray, neighbours: np.ndarray,
                       pool_vectors: torch.Tensor, device: torch.device,
                       observed: np.ndarray | None = None) -> np.ndarray:
    """Next-activity probabilities of each query given its neighbour ids (eval mode).

    With `observed` (one token per query) only P(observed) is returned, [Q] float64;
    otherwise the full distribution [Q, C] float32.
    """
    cfg = model.cfg
    q = len(queries)
    out = np.empty(q, dtype=np.float64) if observed is not None else np.empty((q, cfg.vocab_size), np.float32)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for s in range(0, q, cfg.score_batch_size):
                e = min(q, s + cfg.score_batch_size)
                qv = torch.from_numpy(queries[s:e]).to(device)
                nb = pool_vectors[torch.from_numpy(neighbours[s:e]).to(device)]
                probs = torch.softmax(model.head(qv, nb).logits.float(), dim=-1)
                if observed is not None:
                    idx = torch.from_numpy(observed[s:e].astype(np.int64)).to(device)
                    out[s:e] = probs.gather(1, idx[:, None])[:, 0].double().cpu().numpy()
                else:
                    out[s:e] = probs.cpu().numpy()
    finally:
        model.train(was_training)
    return out


def score_positions(model: LANModel, index: NeighbourIndex, pool_vectors: torch.Tensor,
                    seqs: SequenceSet, device: torch.device) -> np.ndarray:
    """Real-time scores: 1 − P(activity | its prefix, neighbours) per flat position, NaN at 0."""
    scores = np.full(seqs.n_activities, np.nan, dtype=np.float64)
    if seqs.n_activities == 0:
        return scores
    if int(seqs.tokens.max()) >= model.cfg.vocab_size:
        raise ValueError(f"token {int(seqs.tokens.max())} outside the model's vocabulary "
                         f"({model.cfg.vocab_size} classes); was it prepared with another tokenizer?")
    targets = np.flatnonzero(seqs.position_in_sequence() >= 1)
    ends = targets - 1
    queries = prefix_vectors(model, seqs, ends, device, "scoring: encoding sessions")
    hashes = prefix_hashes(seqs)[ends] if model.cfg.exclude_identical else None
    nbrs = neighbour_ids(index, queries, hashes, model.cfg)
    p = head_probabilities(model, queries, nbrs, pool_vectors, device, observed=seqs.tokens[targets])
    scores[targets] = 1.0 - p
    return scores
