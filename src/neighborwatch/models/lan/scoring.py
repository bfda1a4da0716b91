"""Batch scoring with LAN: one encoder pass per session, one batched search, big head batches.

Because the encoder and pooling are causal, the pooled vector of every prefix of a session comes
out of a single pass over the session (`prefix_vectors`). The query of activity i (its prefix
h[:i]) is the vector at position i−1; its neighbours come from one FAISS batch search over all
queries; the graph head then runs in batches of `score_batch_size`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from neighborwatch.models.lan.config import LANConfig
from neighborwatch.models.lan.model import LANModel, pad_prefixes
from neighborwatch.models.lan.retrieval import (
    NeighbourIndex,
    prefix_hashes,
    random_neighbours,
)
from neighborwatch.models.user_history import UserHistory
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


@dataclass
class SessionPass:
    """One encoder batch: whole sessions, each up to its last needed position, and where the
    wanted prefix vectors sit in its output."""

    tokens: np.ndarray  # int64 [b, T] right-padded session tokens
    lengths: np.ndarray  # int64 [b] encoded length of each session
    which: np.ndarray  # int64 [m] indices into `ends` served by this pass
    rows: np.ndarray  # int64 [m] row of each in the pass
    cols: np.ndarray  # int64 [m] position of each prefix's last activity in its session


def session_passes(seqs: SequenceSet, ends: np.ndarray, cfg: LANConfig) -> list[SessionPass]:
    """Plan the passes that give the pooled vector of every prefix ending at flat positions `ends`.

    Each distinct session is encoded once, up to its last needed position; sessions are sorted by
    that length and cut into batches within the token and attention budgets of `cfg`.
    """
    ends = np.asarray(ends, dtype=np.int64)
    if len(ends) == 0:
        return []
    seq_of = seqs.seq_index()[ends]
    pos = seqs.position_in_sequence()[ends]
    sessions, inverse = np.unique(seq_of, return_inverse=True)
    need = np.zeros(len(sessions), dtype=np.int64)
    np.maximum.at(need, inverse, pos + 1)
    by_len = np.argsort(need, kind="stable")
    rank = np.empty(len(sessions), dtype=np.int64)
    rank[by_len] = np.arange(len(sessions))
    end_rank = rank[inverse]
    end_order = np.argsort(end_rank, kind="stable")
    bounds = np.searchsorted(end_rank[end_order], np.arange(len(sessions) + 1))
    sessions, need = sessions[by_len], need[by_len]
    passes = []
    for a, b in _session_batches(need, cfg):
        tokens, lengths = pad_prefixes(seqs.tokens, seqs.offsets[sessions[a:b]], need[a:b])
        which = end_order[bounds[a] : bounds[b]]
        passes.append(SessionPass(tokens, lengths, which, end_rank[which] - a, pos[which]))
    return passes


def run_pass(model: LANModel, p: SessionPass, device: torch.device) -> torch.Tensor:
    """[m, H] pooled vectors of the prefixes one planned pass serves (autograd as the caller sets)."""
    pooled = model.encode_all_prefixes(torch.from_numpy(p.tokens).to(device), torch.from_numpy(p.lengths))
    return pooled[torch.from_numpy(p.rows).to(device), torch.from_numpy(p.cols).to(device)]


def prefix_vectors(
    model: LANModel, seqs: SequenceSet, ends: np.ndarray, device: torch.device, description: str = "encoding prefixes"
) -> np.ndarray:
    """float32 [len(ends), H]: pooled vector of the prefix that ends at each flat position.

    Each needed session is encoded once, up to its last needed position, in eval mode.
    """
    cfg = model.cfg
    out = np.empty((len(ends), cfg.hidden), dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for p in track(session_passes(seqs, ends, cfg), description):
                out[p.which] = run_pass(model, p, device).float().cpu().numpy()
    finally:
        model.train(was_training)
    return out


def neighbour_ids(index: NeighbourIndex, queries: np.ndarray, hashes: np.ndarray | None, cfg: LANConfig) -> np.ndarray:
    """[Q, k-1] pool ids of the neighbours used at inference (batch scoring and streaming).

    retrieved: the nearest pool prefixes (identical-token ones skipped when configured);
    random: `retrieval.random_neighbours` of the prefix hash (needs `hashes`); none, or
    config.inference_retrieval off: no neighbours ([Q, 0]).
    """
    if cfg.k <= 1 or cfg.neighbours == "none" or not cfg.inference_retrieval:
        return np.zeros((len(queries), 0), dtype=np.int64)
    if cfg.neighbours == "random":
        if hashes is None:
            raise ValueError("random neighbours need the query prefixes' hashes")
        return random_neighbours(hashes, cfg.k - 1, index.size)
    return index.search(queries, cfg.k - 1, hashes if cfg.exclude_identical else None)


def needs_hashes(cfg: LANConfig) -> bool:
    """Whether `neighbour_ids` reads the query hashes under this config."""
    return cfg.exclude_identical or cfg.neighbours == "random"


def head_probabilities(
    model: LANModel,
    queries: np.ndarray,
    neighbours: np.ndarray,
    pool_vectors: torch.Tensor,
    device: torch.device,
    observed: np.ndarray | None = None,
    history: UserHistory | None = None,
    users: np.ndarray | None = None,
) -> np.ndarray:
    """Next-activity probabilities of each query given its neighbour ids (eval mode).

    With `observed` (one token per query) only P(observed) is returned, [Q] float64;
    otherwise the full distribution [Q, C] float32. With a `history` and each query's acting
    user, every distribution is first conditioned on the user (`UserHistory.condition`).
    """
    if history is not None and users is None:
        raise ValueError("conditioning on the user needs each query's user")
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
                if history is not None and users is not None:  # on the host: the user tables are numpy
                    probs = torch.from_numpy(history.condition(probs.cpu().numpy(), users[s:e], cfg.user_prior_events))
                if observed is not None:  # gather where the distribution is: only [b] leaves the device
                    idx = torch.from_numpy(observed[s:e].astype(np.int64)).to(probs.device)
                    out[s:e] = probs.gather(1, idx[:, None])[:, 0].double().cpu().numpy()
                else:
                    out[s:e] = probs.cpu().numpy()
    finally:
        model.train(was_training)
    return out


def score_positions(
    model: LANModel,
    index: NeighbourIndex,
    pool_vectors: torch.Tensor,
    seqs: SequenceSet,
    device: torch.device,
    history: UserHistory | None = None,
) -> np.ndarray:
    """Real-time scores: 1 − P(activity | its prefix, neighbours[, user]) per flat position, NaN at 0."""
    scores = np.full(seqs.n_activities, np.nan, dtype=np.float64)
    if seqs.n_activities == 0:
        return scores
    if int(seqs.tokens.max()) >= model.cfg.vocab_size:
        raise ValueError(
            f"token {int(seqs.tokens.max())} outside the model's vocabulary "
            f"({model.cfg.vocab_size} classes); was it prepared with another tokenizer?"
        )
    targets = np.flatnonzero(seqs.position_in_sequence() >= 1)
    ends = targets - 1
    queries = prefix_vectors(model, seqs, ends, device, "scoring: encoding sessions")
    hashes = prefix_hashes(seqs)[ends] if needs_hashes(model.cfg) else None
    nbrs = neighbour_ids(index, queries, hashes, model.cfg)
    users = seqs.position_users()[targets] if history is not None else None
    p = head_probabilities(model, queries, nbrs, pool_vectors, device, seqs.tokens[targets], history, users)
    scores[targets] = 1.0 - p
    return scores
