"""The LAN fit loop (LAN.md §3-4): pool rebuilt every epoch, hybrid loss + graph regulariser,
AdamW with an optional step budget, warm-up + cosine decay and gradient clipping, early stopping
on the validation period, best-epoch checkpoint.

Label flow: training labels reach only sample selection, pool membership and the loss;
validation labels only the early-stopping metric. Nothing here sees a test split.

Training on sessions, not prefixes (config.train_unit = "session"). The encoder and the pooling
are causal, so one pass over a session gives the pooled vector of every one of its prefixes
(scoring relies on the same fact). A batch is therefore built from whole sessions: each session
of the batch is encoded once, up to its last sampled position, and every sampled position of it
is a training sample of the batch. The samples are exactly those of the per-prefix way (50 % of
the positions of normal sessions, every position of malicious ones, malicious targets
oversampled to 10 %: `select_samples`); each pass over the samples still trains every sample
(copy) once. What changes is only which samples share a batch: a session's samples are grouped
(sessions in random order, batches cut every `batch_size` samples, so a session can straddle two
batches), not scattered at random. `train_unit = "prefix"` keeps the one-pass-per-prefix way;
on the same batch both give the same loss and gradients (tests/test_lan_fit.py).

Retrieval once per epoch, in eval mode, for the epoch's samples (as the authors do): after the
pool refresh, the queries of every sample of the coming epoch are encoded without dropout and
searched in one batch; training steps reuse those neighbour ids. A training query never gets a
neighbour from its own session (such a prefix is the query's own past, or its future including
the target itself: a leak that exists only in training). Modes (config.mode):
* faithful — the paper: the query and all its k−1 neighbours are encoded with gradients; the
  neighbours' sessions are encoded in the same passes as the queries', each distinct session of
  the batch once;
* fast — only the queries are encoded with gradients; neighbour node features are the pool
  vectors cached at the pool refresh (the same ones the index searches).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from neighborwatch.models.lan.config import LANConfig
from neighborwatch.models.lan.graph import edge_density, graph_regulariser
from neighborwatch.models.lan.loss import hybrid_loss
from neighborwatch.models.lan.model import LANModel, pad_prefixes
from neighborwatch.models.lan.retrieval import (
    NeighbourIndex,
    PrefixPool,
    first_allowed,
    prefix_hashes,
    random_neighbours,
    select_pool,
)
from neighborwatch.models.lan.scoring import (
    prefix_vectors,
    run_pass,
    score_positions,
    session_passes,
)
from neighborwatch.progress import progress
from neighborwatch.sequences.base import SequenceSet
from neighborwatch.sequences.samples import oversample, training_samples
from neighborwatch.training.early_stopping import EarlyStopping
from neighborwatch.training.seed import seed_everything


@dataclass
class FitResult:
    pool: PrefixPool
    index: NeighbourIndex
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = -1
    n_samples: int = 0


def build_index(pool: PrefixPool, cfg: LANConfig) -> NeighbourIndex:
    assert pool.vectors is not None, "the pool is encoded before it is indexed"
    return NeighbourIndex(pool.vectors, pool.hashes, cfg.exact_below, cfg.hnsw_m, cfg.hnsw_ef_search)


def select_samples(train: SequenceSet, labels: np.ndarray, cfg: LANConfig, seed: int) -> np.ndarray:
    """Target positions (flat) for one run: selection, oversampling, optional seeded cap.

    loss = normal_only trains on normal targets only: no oversampling, malicious targets dropped.
    """
    samples = training_samples(train, labels, normal_rate=cfg.normal_rate, seed=seed)
    if cfg.loss == "normal_only":
        assert samples.label is not None  # built from `labels`
        targets = samples.flat_index(train)[~samples.label]
    else:
        targets = oversample(samples, ratio=cfg.oversample_ratio, seed=seed).flat_index(train)
    if cfg.max_train_samples and len(targets) > cfg.max_train_samples:
        keep = np.random.default_rng(seed).choice(len(targets), cfg.max_train_samples, replace=False)
        targets = targets[np.sort(keep)]
    return targets.astype(np.int64)


def pass_order(
    units: np.ndarray, unit_lengths: np.ndarray, batch_size: int, buckets: int, rng: np.random.Generator
) -> np.ndarray:
    """Sample indices of one pass over the samples, grouped by unit (a session, or the sample
    itself in per-prefix training): units in random order, a unit's samples together in flat
    order. buckets > 0 sorts units by length inside random chunks of `buckets × batch_size`
    units (shorter padded passes); cutting the result every `batch_size` gives the batches.
    """
    n_units = int(units.max()) + 1 if len(units) else 0
    perm = rng.permutation(n_units)
    if buckets > 0:
        chunk = buckets * batch_size
        perm = np.concatenate(
            [c[np.argsort(unit_lengths[c], kind="stable")] for c in np.split(perm, np.arange(chunk, len(perm), chunk))]
            or [perm]
        )
    rank = np.empty(n_units, dtype=np.int64)
    rank[perm] = np.arange(n_units)
    return np.lexsort((np.arange(len(units)), rank[units]))


def batch_stream(
    units: np.ndarray, unit_lengths: np.ndarray, batch_size: int, buckets: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Endless batches of sample indices; a new random pass starts when one is used up (with
    buckets, the batches of a pass come in random order, not shortest first)."""
    while True:
        order = pass_order(units, unit_lengths, batch_size, buckets, rng)
        starts = np.arange(0, len(order), batch_size)
        if buckets > 0:
            starts = rng.permutation(starts)
        for s in starts:
            yield order[s : s + batch_size]


def lr_factor(step: int, warmup: int, total: int, schedule: str) -> float:
    """Multiplier of the peak learning rate at optimiser step `step` (0-based). The warm-up is
    capped at a tenth of the budget, so that a preset's warm-up suits small data too."""
    warmup = min(warmup, total // 10)
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "cosine" and total > warmup:
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / (total - warmup))))
    return 1.0


def validation_metric(scores: np.ndarray, labels: np.ndarray | None) -> tuple[float, str]:
    """Real-time validation AUC; without both classes, the mean log-likelihood of the activities."""
    ok = ~np.isnan(scores)
    if labels is not None:
        y = labels[ok]
        if y.any() and not y.all():
            return float(roc_auc_score(y, scores[ok])), "val_auc"
    return float(np.mean(np.log(np.clip(1.0 - scores[ok], 1e-12, None)))), "val_loglik"


class TrainingSet:
    """The training sessions with what steps need per flat position (built once per fit)."""

    def __init__(self, train: SequenceSet, labels: np.ndarray) -> None:
        self.seqs = train
        self.labels = labels
        self.pos = train.position_in_sequence()
        self.session = train.seq_index()
        self.hashes = prefix_hashes(train)

    def encode(self, model: LANModel, ends: np.ndarray, unit: str, device: torch.device) -> torch.Tensor:
        """[len(ends), H] pooled vectors of the prefixes ending at `ends`, with autograd.

        session: one causal pass per distinct session (up to its last needed position);
        prefix: one pass per prefix (the reference way).
        """
        if unit == "prefix":
            starts = self.seqs.offsets[self.session[ends]]
            tokens, lengths = pad_prefixes(self.seqs.tokens, starts, self.pos[ends] + 1)
            return model.encode_prefixes(torch.from_numpy(tokens).to(device), torch.from_numpy(lengths).to(device))
        passes = session_passes(self.seqs, ends, model.cfg)
        vectors = torch.cat([run_pass(model, p, device) for p in passes])
        which = torch.from_numpy(np.concatenate([p.which for p in passes])).to(device)
        return torch.empty_like(vectors).index_copy(0, which, vectors)


def training_neighbours(
    model: LANModel,
    data: TrainingSet,
    targets: np.ndarray,
    pool: PrefixPool,
    index: NeighbourIndex,
    device: torch.device,
) -> np.ndarray:
    """[len(targets), k-1] pool ids for distinct training targets: eval-mode query vectors, one
    batched search, never a pool prefix of the query's own session (nor one with its tokens)."""
    cfg = model.cfg
    ends = targets - 1
    n = cfg.k - 1
    if n == 0:
        return np.zeros((len(targets), 0), dtype=np.int64)
    pool_sessions = data.session[pool.ends]
    hashes = data.hashes[ends]
    if cfg.neighbours == "random":  # over-draw, then drop own-session (and identical) prefixes
        ids = random_neighbours(hashes, 2 * n + 4, len(pool))
        skip = pool_sessions[ids] == data.session[ends][:, None]
        if cfg.exclude_identical:
            skip |= pool.hashes[ids] == hashes[:, None]
        return first_allowed(ids, skip, n)
    queries = prefix_vectors(model, data.seqs, ends, device, "training queries")
    return index.search(
        queries, n, hashes if cfg.exclude_identical else None, query_groups=data.session[ends], groups=pool_sessions
    )


@dataclass
class StepOutput:
    loss: torch.Tensor
    edge_density: float


def batch_loss(
    model: LANModel,
    data: TrainingSet,
    targets: np.ndarray,
    neighbours: np.ndarray,
    pool: PrefixPool,
    pool_vectors: torch.Tensor,
    device: torch.device,
) -> StepOutput:
    """Hybrid loss + graph regulariser of one batch (targets: flat positions, neighbours: their
    [B, k-1] pool ids)."""
    cfg = model.cfg
    ends = targets - 1
    b, n = neighbours.shape
    if cfg.mode == "fast" or n == 0:
        q = data.encode(model, ends, cfg.train_unit, device)
        nb = pool_vectors[torch.from_numpy(neighbours).to(device)]
    else:  # queries and neighbours from the same passes, each distinct prefix encoded once
        wanted, inverse = np.unique(np.concatenate([ends, pool.ends[neighbours.ravel()]]), return_inverse=True)
        v = data.encode(model, wanted, cfg.train_unit, device)[torch.from_numpy(inverse).to(device)]
        q, nb = v[:b], v[b:].view(b, n, -1)
    out = model.head(q, nb)
    nxt = torch.from_numpy(data.seqs.tokens[targets].astype(np.int64)).to(device)
    mal = torch.from_numpy(data.labels[targets]).to(device)
    loss = hybrid_loss(out.logits, nxt, mal, cfg.malicious_weight)
    loss = loss + graph_regulariser(out.nodes, out.adjacency, cfg.reg_smoothness, cfg.reg_sparsity)
    return StepOutput(loss, edge_density(out.adjacency.detach()))


def refresh_pool(model: LANModel, train: SequenceSet, pool: PrefixPool, device: torch.device) -> NeighbourIndex:
    """Re-encode every pool prefix with the current encoder and rebuild the index."""
    pool.vectors = prefix_vectors(model, train, pool.ends, device, "encoding neighbour pool")
    return build_index(pool, model.cfg)


def _check_inputs(
    cfg: LANConfig,
    train: SequenceSet,
    train_labels: np.ndarray | None,
    validation: SequenceSet | None,
    validation_labels: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    if train_labels is None:
        train_labels = np.zeros(train.n_activities, dtype=bool)
    train_labels = np.asarray(train_labels, dtype=bool)
    if train_labels.shape != (train.n_activities,):
        raise ValueError("train_labels must have one entry per training activity")
    if validation_labels is not None and validation is not None:
        validation_labels = np.asarray(validation_labels, dtype=bool)
        if validation_labels.shape != (validation.n_activities,):
            raise ValueError("validation_labels must have one entry per validation activity")
    if len(train) and int(train.tokens.max()) >= cfg.vocab_size:
        raise ValueError(f"training token {int(train.tokens.max())} >= vocab_size {cfg.vocab_size}")
    return train_labels, validation_labels


def fit_lan(
    model: LANModel,
    train: SequenceSet,
    train_labels: np.ndarray | None,
    validation: SequenceSet | None,
    validation_labels: np.ndarray | None,
    device: torch.device,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    probe: Callable[[Callable[[SequenceSet], np.ndarray]], dict[str, Any]] | None = None,
) -> FitResult:
    """`probe` (measurements only, e.g. benchmarks/epoch_selection.py): called after every epoch
    with a function that gives the current model's real-time scores of any SequenceSet; what it
    returns is kept in that epoch's history row under "probe". Selection never reads it."""
    cfg = model.cfg
    train_labels, validation_labels = _check_inputs(cfg, train, train_labels, validation, validation_labels)
    rng = seed_everything(cfg.seed)
    model.to(device)
    data = TrainingSet(train, train_labels)
    pool = select_pool(train, train_labels, cfg.max_pool, cfg.seed, data.hashes)
    if len(pool) < cfg.k:
        raise ValueError(f"only {len(pool)} distinct normal training prefixes for graphs of k={cfg.k} nodes")
    targets = select_samples(train, train_labels, cfg, cfg.seed)
    if len(targets) == 0:
        raise ValueError("no training samples (sessions need at least 2 activities)")
    if cfg.train_unit == "session":
        units = data.session[targets]
        unit_lengths = train.lengths
    else:
        units, unit_lengths = np.arange(len(targets)), data.pos[targets]
    stream = batch_stream(units, unit_lengths, cfg.batch_size, cfg.length_buckets, rng)
    steps_per_pass = math.ceil(len(targets) / cfg.batch_size)
    epoch_steps = min(cfg.epoch_steps, steps_per_pass) if cfg.epoch_steps else steps_per_pass
    total = epoch_steps * cfg.epochs if not cfg.max_steps else min(cfg.max_steps, epoch_steps * cfg.epochs)
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: lr_factor(s, cfg.warmup_steps, total, cfg.lr_schedule)
    )
    t0 = time.perf_counter()
    index = refresh_pool(model, train, pool, device)
    pool_s = time.perf_counter() - t0
    stopper = EarlyStopping(cfg.patience)
    result = FitResult(pool=pool, index=index, n_samples=len(targets))
    step = 0
    for epoch in range(math.ceil(total / epoch_steps)):
        batches = [targets[next(stream)] for _ in range(min(epoch_steps, total - step))]
        t0 = time.perf_counter()
        distinct = np.unique(np.concatenate(batches))
        ids = training_neighbours(model, data, distinct, pool, index, device)
        retrieval_s = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        model.train()
        pool_vectors = torch.from_numpy(pool.vectors).to(device)
        losses, densities = [], []
        with progress() as p:
            task = p.add_task(f"epoch {epoch + 1} ({cfg.mode}, {len(batches)} steps)", total=len(batches))
            for batch in batches:
                out = batch_loss(model, data, batch, ids[np.searchsorted(distinct, batch)], pool, pool_vectors, device)
                optimiser.zero_grad(set_to_none=True)
                out.loss.backward()
                if cfg.clip_norm:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
                optimiser.step()
                schedule.step()
                step += 1
                losses.append(float(out.loss.detach()))
                densities.append(out.edge_density)
                p.advance(task)
        train_s, train_cpu_s = time.perf_counter() - t0, time.process_time() - c0
        n_samples = int(sum(len(b) for b in batches))
        t1 = time.perf_counter()
        index = refresh_pool(model, train, pool, device)  # for validation and the next epoch
        # wall and CPU seconds: on a shared machine the CPU time is the comparable number
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "steps": step,
            "lr": optimiser.param_groups[0]["lr"],
            "loss": float(np.mean(losses)),
            "samples": n_samples,
            "train_s": round(train_s, 3),
            "train_cpu_s": round(train_cpu_s, 3),
            "samples_per_s": round(n_samples / max(train_s, 1e-9), 1),
            "samples_per_cpu_s": round(n_samples / max(train_cpu_s, 1e-9), 1),
            "retrieval_s": round(retrieval_s, 3),
            "pool_s": round(time.perf_counter() - t1 + pool_s, 3),
            "edge_density": round(float(np.mean(densities)), 4),
        }
        pool_s = 0.0
        if validation is not None and validation.n_activities:
            t1 = time.perf_counter()
            scores = score_positions(model, index, torch.from_numpy(pool.vectors).to(device), validation, device)
            metric, name = validation_metric(scores, validation_labels)
            row[name] = metric
            row["val_s"] = round(time.perf_counter() - t1, 3)
        else:
            metric = float(epoch)  # no validation period: keep the last epoch
        if probe is not None:
            vectors = torch.from_numpy(pool.vectors).to(device)
            row["probe"] = probe(functools.partial(score_positions, model, index, vectors, device=device))
        improved = stopper.update(epoch + 1, metric, {"model": model.state_dict(), "vectors": pool.vectors})
        row["best"] = improved
        result.history.append(row)
        if on_epoch is not None:
            on_epoch(row)
        if stopper.should_stop:
            break
    model.load_state_dict(stopper.checkpoint["model"])
    pool.vectors = stopper.checkpoint["vectors"]
    result.index = build_index(pool, cfg)
    result.best_epoch = stopper.best_epoch
    model.eval()
    return result
