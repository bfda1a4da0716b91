"""Shared machinery of the neural post-hoc baselines: config, training loop, scoring, save/load.

Each neural baseline only says what its network is (`_build`), what it minimises (`_loss`) and
how it scores a padded batch of chunks (`_score`); this base does the rest the same way for all
of them, so that differences in the tables come from the models, not from their plumbing:
seeded initialisation and shuffling, training on the normal chunks (those holding a malicious
activity are left out when labels are given), a cap on training chunks per epoch (CPU budget),
model selection on the validation period's loss over its normal chunks (the test period is never
seen by `fit`), batched
scoring sorted by length, and safetensors + detector.json persistence (no pickle).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from neighborwatch.models.base import SEQUENCE, Detector, NotFittedError
from neighborwatch.models.baselines.posthoc._chunks import Chunks, make_chunks, reduce_chunks
from neighborwatch.models.manifest import read_manifest, write_manifest
from neighborwatch.models.options import DetectorConfig, configure, known_part
from neighborwatch.sequences.base import SequenceSet
from neighborwatch.training.harness import FitLoop, Step, fit_epochs, load_weights, save_weights
from neighborwatch.training.seed import seed_everything

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


@dataclass(frozen=True)
class TorchConfig(DetectorConfig):
    seed: int = 0
    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    max_len: int = 64  # chunk length cap (see _chunks)
    max_train_chunks: int = 20_000  # per epoch, sampled with the seed (CPU budget)
    embed_dim: int = 32
    hidden: int = 64
    chunk_reduce: str = "max"  # how chunk scores become a sequence score


class TorchSequenceDetector(Detector):
    """Base of the neural post-hoc baselines (sequence level only)."""

    levels: ClassVar[frozenset[str]] = frozenset({SEQUENCE})
    Config: ClassVar[type[TorchConfig]] = TorchConfig

    def __init__(self, config: TorchConfig | None = None, **overrides: Any) -> None:
        self.config = configure(self.Config, config, overrides, self.name)
        self.vocab_size: int | None = None
        self.module: nn.Module | None = None

    # -- what subclasses provide -----------------------------------------------------------------
    def _build(self, vocab_size: int) -> nn.Module:
        raise NotImplementedError

    def _loss(self, tokens: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def _score(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _before_training(self, chunks: Chunks) -> None:
        """Hook after the network is built, before the first epoch (e.g. Deep SVDD centres)."""

    # -- fit -------------------------------------------------------------------------------------
    def _start_fit(self, train: SequenceSet) -> None:
        """Every fit begins the same way: refuse empty data, seed, build a fresh network."""
        if len(train) == 0 or train.n_activities == 0:
            raise ValueError(f"{self.name}: the training set has no activities")
        seed_everything(self.config.seed)
        self.vocab_size = int(train.vocab_size)
        self.module = self._build(self.vocab_size)

    def fit(
        self,
        train: SequenceSet,
        train_labels: np.ndarray | None = None,
        validation: SequenceSet | None = None,
        validation_labels: np.ndarray | None = None,
    ) -> TorchSequenceDetector:
        self._start_fit(train)
        chunks = normal_chunks(make_chunks(train, self.config.max_len), train_labels)
        if not len(chunks):
            raise ValueError(f"{self.name}: no normal training chunks to learn from")
        val_chunks = None
        if validation is not None and len(validation):
            val_chunks = normal_chunks(make_chunks(validation, self.config.max_len), validation_labels)
        self._before_training(chunks)
        self._train(chunks, None, val_chunks, None, self._loss, self.config.epochs, "train")
        return self

    def _train(
        self,
        chunks: Chunks,
        labels: np.ndarray | None,
        val_chunks: Chunks | None,
        val_labels: np.ndarray | None,
        loss_fn: LossFn,
        epochs: int,
        what: str,
        lr: float | None = None,
    ) -> list[float]:
        """Minimise `loss_fn` over chunk batches (the shared `training.harness` loop); keep the
        epoch with the lowest validation loss (no early stop: every epoch runs). Returns the
        per-epoch validation losses."""
        assert self.module is not None
        cfg = self.config
        params = [p for p in self.module.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=lr or cfg.lr, weight_decay=cfg.weight_decay)
        rng = np.random.default_rng(cfg.seed)

        def epoch_steps(epoch: int) -> Iterator[Step]:
            order = self._epoch_sample(rng, len(chunks), labels)
            for b in range(0, len(order), cfg.batch_size):
                idx = order[b : b + cfg.batch_size]
                tok, lens = chunks.batch(idx)
                yield len(idx), (tok, lens, torch.from_numpy(labels[idx]).float() if labels is not None else None)

        validate = None
        if val_chunks is not None and len(val_chunks):
            validate = partial(self._mean_loss, val_chunks, val_labels, loss_fn)
        history = fit_epochs(
            self.module,
            opt,
            FitLoop(epochs, patience=0, mode="min", grad_clip=5.0),
            epoch_steps,
            lambda batch: loss_fn(*batch),
            validate,
            f"{self.name}: {what}",
        )
        return [h["val_loss"] for h in history]

    def _epoch_sample(self, rng: np.random.Generator, n: int, labels: np.ndarray | None) -> np.ndarray:
        """This epoch's chunks in random order, at most `max_train_chunks`; with labels, every
        positive chunk is kept (the cap must not drop the rare malicious examples)."""
        cap = self.config.max_train_chunks
        if not cap or n <= cap:
            return rng.permutation(n)
        if labels is None:
            return rng.permutation(n)[:cap]
        pos, neg = np.flatnonzero(labels > 0), np.flatnonzero(labels <= 0)
        neg = rng.permutation(neg)[: max(cap - len(pos), 0)]
        return rng.permutation(np.concatenate([pos, neg]))

    @torch.no_grad()
    def _mean_loss(self, chunks: Chunks, labels: np.ndarray | None, loss_fn: LossFn) -> float:
        assert self.module is not None
        self.module.eval()
        # a fixed, seeded subset so that epochs are compared on the same chunks (and masking, if
        # the loss draws random masks, is reproducible)
        rng = np.random.default_rng(self.config.seed + 1)
        idx_all = rng.permutation(len(chunks))[: self.config.max_train_chunks // 4 or 1]
        state = torch.random.get_rng_state()
        torch.manual_seed(self.config.seed + 1)
        total, n = 0.0, 0
        for b in range(0, len(idx_all), self.config.batch_size):
            idx = idx_all[b : b + self.config.batch_size]
            tok, lens = chunks.batch(idx)
            lab = torch.from_numpy(labels[idx]).float() if labels is not None else None
            total += float(loss_fn(tok, lens, lab)) * len(idx)
            n += len(idx)
        torch.random.set_rng_state(state)
        return total / max(n, 1)

    # -- score -----------------------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if self.module is None:
            raise NotFittedError(self.name)

    @torch.no_grad()
    def score_chunks(self, chunks: Chunks) -> np.ndarray:
        self._require_fitted()
        assert self.module is not None
        self.module.eval()
        out = np.zeros(len(chunks), dtype=np.float64)
        order = np.argsort(chunks.length, kind="stable")  # similar lengths together: less padding
        bs = max(self.config.batch_size, 256)
        for b in range(0, len(order), bs):
            idx = order[b : b + bs]
            tok, lens = chunks.batch(idx)
            out[idx] = self._score(tok, lens).double().cpu().numpy()
        return out

    def score_sequences(self, seqs: SequenceSet) -> np.ndarray:
        self._require_fitted()
        if self.vocab_size is not None and seqs.n_activities and int(seqs.tokens.max()) >= self.vocab_size:
            raise ValueError(
                f"{self.name}: tokens up to {int(seqs.tokens.max())} but the model knows {self.vocab_size}"
            )
        chunks = make_chunks(seqs, self.config.max_len)
        return reduce_chunks(chunks, self.score_chunks(chunks), self.config.chunk_reduce)

    # -- persistence -----------------------------------------------------------------------------
    def _extra_manifest(self) -> dict[str, Any]:
        return {}

    def _restore_extra(self, manifest: dict[str, Any]) -> None:
        pass

    def save(self, path: str | Path) -> None:
        self._require_fitted()
        assert self.module is not None
        path = Path(path)
        write_manifest(
            path, self.name, {**self.config.to_dict(), "vocab_size": self.vocab_size, **self._extra_manifest()}
        )
        save_weights(self.module, path)

    @classmethod
    def load(cls, path: str | Path) -> TorchSequenceDetector:
        manifest = read_manifest(path, expect=cls.name)
        cfg = dict(manifest["config"])
        det = cls(cls.Config.from_dict(known_part(cls.Config, cfg), cls.name))
        det.vocab_size = int(cfg["vocab_size"])
        det._restore_extra(cfg)
        det.module = load_weights(det._build(det.vocab_size), path)
        return det


def normal_chunks(chunks: Chunks, activity_labels: np.ndarray | None) -> Chunks:
    """Without the chunks that hold a malicious activity, when labels are given.

    The unsupervised baselines model NORMAL behaviour (one-class objectives, reconstruction,
    next-activity likelihood); like the real-time next-activity baselines, which leave out
    malicious targets, they learn from the normal part of the training period only.
    """
    if activity_labels is None:
        return chunks
    return chunks.select(~chunks.labels(np.asarray(activity_labels, dtype=bool)))
