"""One trainer and one scorer for every next-activity baseline; the models differ only in `net`.

Why one module: DeepLog, RNN, GRU4Rec, LSTM, SASRec, FMLP-Rec and the LogBERT-style model all
learn P(next activity | the last W activities) and score an observed activity `c` as
`1 - P(c | prefix)`. Window batching, the training loop, early stopping, scoring and save/load
are the same for all of them, so they live here once; a baseline module only supplies a
`NextActivityNet` (and, for DeepLog, another way to turn logits into scores).

Samples (LAN.md §2.8): position `i >= 1` of a sequence gives (window = the W activities before
`i`, left-padded with 0, target = token `i`). Windows are built per batch from a
`sliding_window_view` of the zero-padded flat token array (a view, no copy of N x W), so memory
stays O(batch x W) whatever the data size.

Training is self-supervised on the NORMAL training data: when training labels are given, the
positions whose target is malicious are dropped (the baselines of the paper are unsupervised
next-activity predictors; labels are never read at scoring). Early stopping watches the mean
cross-entropy on the normal validation positions (again dropping malicious targets when
validation labels are given), keeps the best epoch's weights, and stops after `patience` epochs
without improvement. Every random choice (initialisation, dropout, shuffling, subsampling,
LogBERT's masking) follows `seed`; on CPU the same seed gives bit-identical scores, on CUDA
(`device="auto"` picks it when present) only up to floating-point non-determinism.

Scoring shares work where that gives the same numbers: the window of position i holds the whole
prefix while i <= W, so for a causal net (`NextActivityNet.shares_prefixes`: the recurrent nets
and the LSTM = LAN-encoder model) one pass over a sequence's first W activities gives the logits
of all those positions at once (`prefix_logits`); positions past W keep their own window. The
window-relative models (SASRec and FMLP-Rec with learned positions counted from the window's
end, FMLP-Rec's circular filter, LogBERT's bidirectional encoder with its [MASK] query) compute a
different representation of the same activity for every window, so sharing would change their
scores; they keep one (batched) forward per scored activity.

Live (`stream_scorer()`): a ring of each session's last W tokens (`models.stream.RecentTokens`)
gives the very window the batch path builds, so one batched forward over the sessions of a
micro-batch scores them, with the same `scores_from_logits`, whatever the session length.

Saved models: `detector.json` (name + every hyperparameter + vocabulary size + history) and
`weights.safetensors`; no pickle.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn

from neighborwatch.models.base import ACTIVITY, SEQUENCE, Detector, NotFittedError
from neighborwatch.models.manifest import read_manifest, write_manifest
from neighborwatch.models.options import DetectorConfig, configure
from neighborwatch.models.stream import Prediction, RecentTokens
from neighborwatch.progress import progress
from neighborwatch.sequences.base import SequenceSet
from neighborwatch.training.device import select_device
from neighborwatch.training.harness import FitLoop, Step, fit_epochs, load_weights, save_weights
from neighborwatch.training.seed import seed_everything


@dataclass(frozen=True)
class NextActivityConfig(DetectorConfig):
    """Training / scoring settings every next-activity baseline accepts; each model's config
    subclasses it with its network's fields (and may change a default, e.g. DeepLog's h = 10)."""

    window: int = 20  # W: how many previous activities the model sees
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    max_epochs: int = 10
    patience: int = 3  # epochs without validation improvement before stopping
    epoch_samples: int = 200_000  # cap of training positions per epoch (seeded resample); 0 = all
    val_samples: int = 50_000  # cap of validation positions (fixed seeded subset); 0 = all
    grad_clip: float = 5.0
    score_batch: int = 4096
    device: str = "auto"  # auto = CUDA when present, else CPU
    seed: int = 42

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")


# -- windows ---------------------------------------------------------------------------------
def target_positions(seqs: SequenceSet, labels: np.ndarray | None = None) -> np.ndarray:
    """Flat positions that have a prefix (index >= 1 in their sequence), minus malicious targets."""
    keep = seqs.position_in_sequence() >= 1
    if labels is not None:
        labels = np.asarray(labels, dtype=bool)
        if labels.shape != (seqs.n_activities,):
            raise ValueError(f"labels must have one entry per activity ({seqs.n_activities}), got {labels.shape}")
        keep &= ~labels
    return np.flatnonzero(keep)


class WindowMaker:
    """Left-padded windows of the W activities before given flat positions (stride trick)."""

    def __init__(self, seqs: SequenceSet, window: int) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = window
        self.tokens = seqs.tokens
        padded = np.concatenate([np.zeros(window, dtype=np.int32), seqs.tokens.astype(np.int32)])
        # view[i] = padded[i : i + W] = tokens[i - W : i]: the W activities before flat position i
        self._view = sliding_window_view(padded, window)
        self._start = np.repeat(seqs.offsets[:-1], seqs.lengths)  # sequence start of each position
        self._cols = np.arange(window)

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        w = self._view[positions]  # fancy indexing copies only these rows
        available = positions - self._start[positions]  # activities before i in its own sequence
        w[self._cols[None, :] < (self.window - available)[:, None]] = 0  # not from another sequence
        return w

    def targets(self, positions: np.ndarray) -> np.ndarray:
        return self.tokens[positions]


def _batches(positions: np.ndarray, size: int) -> list[np.ndarray]:
    return [positions[i : i + size] for i in range(0, len(positions), size)]


# -- networks --------------------------------------------------------------------------------
class NextActivityNet(nn.Module):
    """Maps left-padded windows [B, W] (0 = padding, the last column is always a real activity)
    to next-activity logits [B, vocab_size]."""

    #: True when `prefix_logits` gives, at every position, what `forward` gives for the window
    #: holding the prefix up to that position (a causal net without window-relative parts)
    shares_prefixes: ClassVar[bool] = False

    @abstractmethod
    def forward(self, windows: torch.Tensor) -> torch.Tensor: ...

    def prefix_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Right-padded prefixes [B, T] → logits [B, T, vocab] where position t predicts the
        activity after tokens[:, :t+1] (only for nets with `shares_prefixes`)."""
        raise NotImplementedError(f"{type(self).__name__} scores one window per activity")

    def loss(self, windows: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Training loss; the default is next-activity cross-entropy (LogBERT adds its own)."""
        return F.cross_entropy(self(windows), targets)


# -- the detector base -----------------------------------------------------------------------
class NextActivityDetector(Detector):
    """Base of the neural next-activity baselines: subclasses set `name`, `Config`, `build_net`."""

    levels: ClassVar[frozenset[str]] = frozenset({ACTIVITY, SEQUENCE})
    #: this model's config: the shared training settings plus its network's hyperparameters
    Config: ClassVar[type[NextActivityConfig]] = NextActivityConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "standard": {"max_epochs": 8, "patience": 2, "epoch_samples": 200_000, "val_samples": 50_000},
        "fast": {"max_epochs": 2, "patience": 1, "epoch_samples": 5_000, "val_samples": 2_000, "window": 10},
    }

    def __init__(self, config: NextActivityConfig | None = None, **overrides: Any) -> None:
        self.config: Any = configure(self.Config, config, overrides, self.name)
        self.net: NextActivityNet | None = None
        self.vocab_size: int | None = None
        self.history: list[dict[str, float]] = []
        self.device = select_device(self.config.device)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array).long().to(self.device)

    @abstractmethod
    def build_net(self, vocab_size: int) -> NextActivityNet:
        """A fresh network for this vocabulary, from `self.config`."""

    @property
    def scores_are_probabilities(self) -> bool:
        return getattr(self.config, "score", "prob") == "prob"  # DeepLog's top-g rule is not one

    def scores_from_logits(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Anomaly score of each observed target: 1 - P(target | prefix)."""
        return 1.0 - torch.softmax(logits, dim=-1).gather(1, targets[:, None])[:, 0]

    # -- training ----------------------------------------------------------------------------
    def fit(
        self,
        train: SequenceSet,
        train_labels: np.ndarray | None = None,
        validation: SequenceSet | None = None,
        validation_labels: np.ndarray | None = None,
    ) -> NextActivityDetector:
        cfg = self.config
        rng = seed_everything(cfg.seed)
        train_pos = target_positions(train, train_labels)
        if train_pos.size == 0:
            raise ValueError(f"{self.name}: no training positions (every sequence has length < 2?)")
        self.vocab_size = int(train.vocab_size)
        net = self.net = self.build_net(self.vocab_size).to(self.device)
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        make_train = WindowMaker(train, cfg.window)
        validate = None
        if validation is not None:
            val_pos = target_positions(validation, validation_labels)
            if cfg.val_samples and val_pos.size > cfg.val_samples:
                val_pos = np.sort(rng.choice(val_pos, cfg.val_samples, replace=False))
            if val_pos.size:
                validate = partial(self._mean_loss, WindowMaker(validation, cfg.window), val_pos)
        n = min(cfg.epoch_samples or train_pos.size, train_pos.size)

        def epoch_steps(epoch: int) -> Iterator[Step]:
            order = rng.permutation(train_pos) if n == train_pos.size else rng.choice(train_pos, n, replace=False)
            for batch in _batches(order, cfg.batch_size):
                yield len(batch), (self._tensor(make_train(batch)), self._tensor(make_train.targets(batch)))

        loop = FitLoop(cfg.max_epochs, cfg.patience, min_delta=1e-5, mode="min", grad_clip=cfg.grad_clip)
        self.history = fit_epochs(
            net,
            opt,
            loop,
            epoch_steps,
            lambda b: net.loss(*b),
            validate,
            f"{self.name} training",
            steps_per_epoch=-(-n // cfg.batch_size),
        )
        return self

    @torch.no_grad()
    def _mean_loss(self, make: WindowMaker, positions: np.ndarray) -> float:
        """Mean next-activity cross-entropy (the model-selection criterion)."""
        assert self.net is not None
        self.net.eval()
        total = 0.0
        for batch in _batches(positions, self.config.score_batch):
            logits = self.net(self._tensor(make(batch)))
            total += float(F.cross_entropy(logits, self._tensor(make.targets(batch)), reduction="sum"))
        return total / len(positions)

    # -- scoring -----------------------------------------------------------------------------
    @torch.no_grad()
    def score_activities(self, seqs: SequenceSet) -> np.ndarray:
        if self.net is None:
            raise NotFittedError(self.name)
        if seqs.vocab_size != self.vocab_size:
            raise ValueError(f"{self.name} was trained on vocab_size {self.vocab_size}, got {seqs.vocab_size}")
        self.net.eval()
        out = np.full(seqs.n_activities, np.nan, dtype=np.float64)
        positions = target_positions(seqs)
        if self.net.shares_prefixes:  # positions whose window is their whole prefix: one pass each
            self._score_prefixes(seqs, out)
            positions = positions[seqs.position_in_sequence()[positions] > self.config.window]
        make = WindowMaker(seqs, self.config.window)
        batches = _batches(positions, self.config.score_batch)
        with progress() as bar:
            task = bar.add_task(f"{self.name} scoring", total=len(batches))
            for batch in batches:
                logits = self.net(self._tensor(make(batch)))
                targets = self._tensor(make.targets(batch))
                out[batch] = self.scores_from_logits(logits, targets).double().cpu().numpy()
                bar.advance(task)
        return out

    def _score_prefixes(self, seqs: SequenceSet, out: np.ndarray) -> None:
        """Fill `out` at positions 1..W of every sequence from one causal pass over its first W
        activities (equal to their windows: each of those windows is the whole prefix)."""
        assert self.net is not None
        span = np.minimum(seqs.lengths - 1, self.config.window)  # prefix positions scored per sequence
        order = np.flatnonzero(span >= 1)
        order = order[np.argsort(span[order], kind="stable")]  # similar lengths share a batch
        for batch in _batches(order, self.config.score_batch):
            cols = np.arange(int(span[batch].max()))
            flat = seqs.offsets[batch][:, None] + cols[None, :]
            valid = cols[None, :] < span[batch][:, None]
            tokens = np.where(valid, seqs.tokens[np.where(valid, flat, 0)], 0)
            logits = self.net.prefix_logits(self._tensor(tokens))[self._tensor(valid).bool()]
            targets = flat[valid] + 1  # position t of the pass predicts the activity after it
            out[targets] = self.scores_from_logits(logits, self._tensor(seqs.tokens[targets])).double().cpu().numpy()

    def stream_scorer(self) -> NextActivityStreamScorer | None:
        if self.net is None:
            raise NotFittedError(self.name)
        return NextActivityStreamScorer(self) if ACTIVITY in self.levels else None

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        if self.net is None:
            raise NotFittedError(self.name, "save")
        write_manifest(
            path, self.name, {**self.config.to_dict(), "vocab_size": self.vocab_size, "history": self.history}
        )
        save_weights(self.net, path)

    @classmethod
    def load(cls, path: str | Path) -> NextActivityDetector:
        manifest = read_manifest(path, expect=cls.name)
        config = dict(manifest["config"])
        vocab_size = int(config.pop("vocab_size"))
        history = config.pop("history", [])
        det = cls(cls.Config.from_dict(config, cls.name))
        det.vocab_size = vocab_size
        det.history = history
        det.net = load_weights(det.build_net(vocab_size), path, det.device)  # type: ignore[assignment]
        return det


class NextActivityStreamScorer(RecentTokens):
    """Live twin of `NextActivityDetector.score_activities`: window from the ring, one forward."""

    def __init__(self, detector: NextActivityDetector, capacity: int = 256) -> None:
        assert detector.net is not None and detector.vocab_size is not None
        self.det = detector
        self.name = detector.name
        self.vocab_size = detector.vocab_size
        super().__init__(int(detector.config.window), capacity)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "window": self.window}

    @torch.no_grad()
    def _logits(self, slots: np.ndarray) -> torch.Tensor:
        assert self.det.net is not None
        self.det.net.eval()
        return self.det.net(self.det._tensor(self.windows(slots)))

    def predict(self, slots: np.ndarray) -> Prediction:
        return Prediction(torch.softmax(self._logits(slots), dim=-1).float().cpu().numpy())

    @torch.no_grad()
    def score(
        self, slots: np.ndarray, tokens: np.ndarray, times_us: np.ndarray, users: np.ndarray
    ) -> tuple[np.ndarray, Prediction]:
        logits = self._logits(slots)
        scores = self.det.scores_from_logits(logits, self.det._tensor(np.asarray(tokens)))
        return scores.double().cpu().numpy(), Prediction(torch.softmax(logits, dim=-1).float().cpu().numpy())
