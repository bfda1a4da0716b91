"""The LAN fit loop (LAN.md §3-4): pool rebuilt every epoch, hybrid loss + graph regulariser,
AdamW, early stopping on the validation period, best-epoch checkpoint.

Label flow: training labels reach only sample selection, pool membership and the loss;
validation labels only the early-stopping metric. Nothing here sees a test split.

Modes (config.mode):
* faithful — the paper: the query and all its k−1 neighbours are encoded with gradients;
* fast — only the query is encoded with gradients; neighbour node features are the pool
  vectors cached at the start of the epoch (the same ones the index searches).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from neighborwatch.models.lan.graph import graph_regulariser
from neighborwatch.models.lan.loss import hybrid_loss
from neighborwatch.models.lan.model import LANModel, pad_prefixes
from neighborwatch.models.lan.retrieval import NeighbourIndex, PrefixPool, prefix_hashes, select_pool
from neighborwatch.models.lan.scoring import neighbour_ids, prefix_vectors, score_positions
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


def build_index(pool: PrefixPool, cfg) -> NeighbourIndex:
    return NeighbourIndex(pool.vectors, pool.hashes, cfg.exact_below, cfg.hnsw_m, cfg.hnsw_ef_search)


def select_samples(train: SequenceSet, labels: np.ndarray, cfg, seed: int) -> np.ndarray:
    """Target positions for one run: selection, oversampling, optional seeded cap."""
    samples = training_samples(train, labels, normal_rate=cfg.normal_rate, seed=seed)
    targets = oversample(samples, ratio=cfg.oversample_ratio, seed=seed).flat_index(train)
    if cfg.max_train_samples and len(targets) > cfg.max_train_samples:
        keep = np.random.default_rng(seed).choice(len(targets), cfg.max_train_samples, replace=False)
        targets = targets[np.sort(keep)]
    return targets.astype(np.int64)


def epoch_batches(targets: np.ndarray, prefix_lengths: np.ndarray, batch_size: int, buckets: int,
                  rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch's batches: random, or (buckets > 0) length-bucketed within random chunks."""
    perm = rng.permutation(len(targets))
    if buckets > 0:
        chunk = buckets * batch_size
        perm = np.concatenate([c[np.argsort(prefix_lengths[c], kind="stable")]
                               for c in np.split(perm, np.arange(chunk, len(perm), chunk))])
    batches = [targets[perm[s : s + batch_size]] for s in range(0, len(perm), batch_size)]
    if buckets > 0:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def validation_metric(scores: np.ndarray, labels: np.ndarray | None) -> tuple[float, str]:
    """Real-time validation AUC; without both classes, the mean log-likelihood of the activities."""
    ok = ~np.isnan(scores)
    if labels is not None:
        y = labels[ok]
        if y.any() and not y.all():
            return float(roc_auc_score(y, scores[ok])), "val_auc"
    return float(np.mean(np.log(np.clip(1.0 - scores[ok], 1e-12, None)))), "val_loglik"


class _Batcher:
    """Turns target positions into model inputs (prefix token matrices) for a training step."""

    def __init__(self, train: SequenceSet, labels: np.ndarray) -> None:
        self.train = train
        self.labels = labels
        self.pos = train.position_in_sequence()
        self.starts = train.offsets[:-1][train.seq_index()]
        self.hashes = prefix_hashes(train)

    def prefixes(self, ends: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, lengths = pad_prefixes(self.train.tokens, self.starts[ends], self.pos[ends] + 1)
        return torch.from_numpy(tokens).to(device), torch.from_numpy(lengths).to(device)


def train_step(model: LANModel, batcher: _Batcher, targets: np.ndarray, pool: PrefixPool,
               index: NeighbourIndex, pool_vectors: torch.Tensor, device: torch.device,
               optimiser: torch.optim.Optimizer) -> float:
    cfg = model.cfg
    ends = targets - 1
    q = model.encode_prefixes(*batcher.prefixes(ends, device))
    ids = neighbour_ids(index, q.detach().float().cpu().numpy(), batcher.hashes[ends], cfg)
    if cfg.mode == "fast" or ids.shape[1] == 0:
        nb = pool_vectors[torch.from_numpy(ids).to(device)]
    else:
        flat = pool.ends[ids.ravel()]
        nb = model.encode_prefixes(*batcher.prefixes(flat, device)).view(len(targets), ids.shape[1], -1)
    out = model.head(q, nb)
    nxt = torch.from_numpy(batcher.train.tokens[targets].astype(np.int64)).to(device)
    mal = torch.from_numpy(batcher.labels[targets]).to(device)
    loss = hybrid_loss(out.logits, nxt, mal, cfg.malicious_weight)
    loss = loss + graph_regulariser(out.nodes, out.adjacency, cfg.reg_smoothness, cfg.reg_sparsity)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    return float(loss.detach())


def refresh_pool(model: LANModel, train: SequenceSet, pool: PrefixPool, device: torch.device) -> NeighbourIndex:
    """Re-encode every pool prefix with the current encoder and rebuild the index."""
    pool.vectors = prefix_vectors(model, train, pool.ends, device, "encoding neighbour pool")
    return build_index(pool, model.cfg)


def fit_lan(model: LANModel, train: SequenceSet, train_labels: np.ndarray,
            validation: SequenceSet | None, validation_labels: np.ndarray | None,
            device: torch.device, on_epoch: Callable[[dict[str, Any]], None] | None = None) -> FitResult:
    cfg = model.cfg
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
    rng = seed_everything(cfg.seed)
    model.to(device)
    batcher = _Batcher(train, train_labels)
    pool = select_pool(train, train_labels, cfg.max_pool, cfg.seed, batcher.hashes)
    if len(pool) < cfg.k:
        raise ValueError(f"only {len(pool)} distinct normal training prefixes for graphs of k={cfg.k} nodes")
    targets = select_samples(train, train_labels, cfg, cfg.seed)
    if len(targets) == 0:
        raise ValueError("no training samples (sessions need at least 2 activities)")
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    index = refresh_pool(model, train, pool, device)
    stopper = EarlyStopping(cfg.patience)
    result = FitResult(pool=pool, index=index, n_samples=len(targets))
    n_batches = math.ceil(len(targets) / cfg.batch_size)
    for epoch in range(cfg.epochs):
        model.train()
        batches = epoch_batches(targets, batcher.pos[targets - 1], cfg.batch_size, cfg.length_buckets, rng)
        pool_vectors = torch.from_numpy(pool.vectors).to(device)
        t0, c0, losses = time.perf_counter(), time.process_time(), []
        with progress() as p:
            task = p.add_task(f"epoch {epoch + 1}/{cfg.epochs} ({cfg.mode})", total=n_batches)
            for batch in batches:
                losses.append(train_step(model, batcher, batch, pool, index, pool_vectors, device, optimiser))
                p.advance(task)
        train_s, train_cpu_s = time.perf_counter() - t0, time.process_time() - c0
        t1 = time.perf_counter()
        index = refresh_pool(model, train, pool, device)  # for validation and the next epoch
        # wall and CPU seconds: on a shared machine the CPU time is the comparable number
        row: dict[str, Any] = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "train_s": round(train_s, 3),
                               "train_cpu_s": round(train_cpu_s, 3),
                               "samples_per_s": round(len(targets) / max(train_s, 1e-9), 1),
                               "samples_per_cpu_s": round(len(targets) / max(train_cpu_s, 1e-9), 1),
                               "pool_s": round(time.perf_counter() - t1, 3)}
        if validation is not None and validation.n_activities:
            t1 = time.perf_counter()
            scores = score_positions(model, index, torch.from_numpy(pool.vectors).to(device), validation, device)
            metric, name = validation_metric(scores, validation_labels)
            row[name] = metric
            row["val_s"] = round(time.perf_counter() - t1, 3)
        else:
            metric = float(epoch)  # no validation period: keep the last epoch
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
