"""`LAN` behind the detector contract: fit, real-time activity scores, post-hoc sequence scores,
save/load.

Post-hoc (`score_sequences`) keeps the contract's default: the mean of the 3 highest real-time
surprisals −log P of the sequence (see models/base.py), so a session is as suspicious as its few
least predictable activities, each judged from its own prefix and neighbours.

A saved model directory holds:
  detector.json (manifest), config.json, model.safetensors (weights), vocab.json,
  pool_vectors.npy / pool_hashes.npy / pool_ends.npy / pool_lengths.npy / pool_event_rows.npy
  (the neighbour pool and the identity of its prefixes: token hash, prefix length, and the
  events.parquet row of each prefix's last activity), index.faiss (the exact index used),
  user_history.npz (with config.user_history: the training users' activity counts) and
  history.json (per-epoch training log).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import torch
from safetensors.torch import load_file, save_file

from neighborwatch.models.base import Detector, NotFittedError
from neighborwatch.models.lan.config import PRESETS, LANConfig
from neighborwatch.models.lan.fit import fit_lan
from neighborwatch.models.lan.model import LANModel
from neighborwatch.models.lan.retrieval import NeighbourIndex, PrefixPool
from neighborwatch.models.lan.scoring import head_probabilities, neighbour_ids, prefix_vectors, score_positions
from neighborwatch.models.lan.stream_scorer import LANStreamScorer
from neighborwatch.models.manifest import read_manifest, register, write_manifest
from neighborwatch.models.user_history import UserHistory
from neighborwatch.sequences.base import SequenceSet
from neighborwatch.training.device import select_device

_POOL_ARRAYS = ("hashes", "ends", "lengths", "event_rows")


@register
class LAN(Detector):
    name = "lan"
    featured = True
    # quick / paper: `neighborwatch train --preset` (models/lan/config.py PRESETS); the benchmark's
    # standard preset is quick, its fast preset a tiny network for smoke runs and tests
    presets = {
        **PRESETS,
        "standard": PRESETS["quick"],
        "fast": {
            "mode": "fast",
            "epochs": 2,
            "lr": 1e-3,
            "embed_dim": 16,
            "hidden": 16,
            "layers": 1,
            "attention_heads": 2,
            "max_train_samples": 3_000,
            "k": 5,
            "batch_size": 128,
        },
    }

    @classmethod
    def create(cls, params: Any = None, *, seed: int = 42, vocab_size: int | None = None) -> LAN:
        vocab = {} if vocab_size is None else {"vocab_size": vocab_size}
        return cls(**{**dict(params or {}), "seed": seed, **vocab})

    @classmethod
    def effective_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        return LANConfig().replace(**params).to_dict()

    def __init__(self, config: LANConfig | None = None, **overrides: Any) -> None:
        self.config = (config or LANConfig()).replace(**overrides)
        self.device = select_device(self.config.device, self.config.threads)
        torch.manual_seed(self.config.seed)  # initial weights depend on the seed only
        self.model = LANModel(self.config).to(self.device)
        self.pool: PrefixPool | None = None
        self.index: NeighbourIndex | None = None
        self.history: list[dict[str, Any]] = []
        self.best_epoch: int = -1
        self.n_train_samples: int = 0  # samples per epoch in the last fit (after oversampling)
        self.tokenizer: Any = None
        self.start_groups: Any = None  # the training sequences' peer-group start tokens (JSON) or None
        self.user_history: UserHistory | None = None  # with config.user_history: training users' mixes
        self._pool_tensor: torch.Tensor | None = None

    # -- training -------------------------------------------------------------------------------
    def fit(
        self,
        train: SequenceSet,
        train_labels: np.ndarray | None = None,
        validation: SequenceSet | None = None,
        validation_labels: np.ndarray | None = None,
        on_epoch: Any = None,
        probe: Any = None,
    ) -> LAN:
        if train.vocab_size != self.config.vocab_size:
            raise ValueError(
                f"training set has {train.vocab_size} classes, config.vocab_size is {self.config.vocab_size}"
            )
        torch.manual_seed(self.config.seed)  # refitting starts from the same initial weights
        self.model = LANModel(self.config).to(self.device)
        result = fit_lan(self.model, train, train_labels, validation, validation_labels, self.device, on_epoch, probe)
        self.pool, self.index = result.pool, result.index
        self.history, self.best_epoch = result.history, result.best_epoch
        self.n_train_samples = result.n_samples
        self.tokenizer = train.extra.get("tokenizer")
        self.start_groups = train.extra.get("start_groups")
        self.user_history = UserHistory.fit(train, train_labels) if self.config.user_history else None
        self._pool_tensor = None
        return self

    def learn_new_users(self, seqs: SequenceSet, labels: np.ndarray) -> int:
        if self.user_history is None:
            return 0
        before = len(self.user_history.users)
        self.user_history = self.user_history.with_new_users(seqs, labels)
        return len(self.user_history.users) - before

    # -- scoring --------------------------------------------------------------------------------
    @property
    def scores_are_probabilities(self) -> bool:
        return True

    def _require_fitted(self) -> tuple[PrefixPool, np.ndarray, NeighbourIndex]:
        """The pool, its vectors and the index (NotFittedError before `fit` or `load`)."""
        if self.pool is None or self.index is None or self.pool.vectors is None:
            raise NotFittedError(self.name)
        return self.pool, self.pool.vectors, self.index

    @property
    def pool_vectors(self) -> torch.Tensor:
        """The pool's raw pooled vectors on the model's device (neighbour node features)."""
        _, vectors, _ = self._require_fitted()
        if self._pool_tensor is None:
            self._pool_tensor = torch.from_numpy(vectors).to(self.device)
        return self._pool_tensor

    def score_activities(self, seqs: SequenceSet) -> np.ndarray:
        _, _, index = self._require_fitted()
        return score_positions(self.model, index, self.pool_vectors, seqs, self.device, self.user_history)

    def stream_scorer(self) -> LANStreamScorer | None:
        """Live scoring needs a recurrent encoder (a transformer's state is the whole history)."""
        self._require_fitted()
        return LANStreamScorer(self) if self.model.encoder.recurrent else None

    def prefix_vectors(self, seqs: SequenceSet, ends: np.ndarray) -> np.ndarray:
        """Pooled query vectors of the prefixes ending at flat positions `ends` (for tools)."""
        return prefix_vectors(self.model, seqs, ends, self.device)

    def next_activity_probabilities(
        self, queries: np.ndarray, query_hashes: np.ndarray | None, observed: np.ndarray | None = None
    ) -> np.ndarray:
        """Retrieval + graph head for ready-made query vectors (the streaming scorer's last step).

        queries: float32 [Q, H] pooled prefix vectors; query_hashes: int64 [Q] prefix hashes
        (`retrieval.hash_step`), needed when config.exclude_identical. Returns P(observed) [Q]
        or the full distribution [Q, C].
        """
        _, _, index = self._require_fitted()
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        nbrs = neighbour_ids(index, queries, query_hashes, self.config)
        return head_probabilities(self.model, queries, nbrs, self.pool_vectors, self.device, observed)

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        pool, vectors, index = self._require_fitted()
        path = Path(path)
        write_manifest(path, self.name, self.config.to_dict())
        self.config.to_json(path / "config.json")
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(path / "model.safetensors"))
        (path / "vocab.json").write_text(
            json.dumps(
                {"vocab_size": self.config.vocab_size, "tokenizer": self.tokenizer, "start_groups": self.start_groups},
                indent=2,
                default=str,
            )
        )
        np.save(path / "pool_vectors.npy", vectors, allow_pickle=False)
        for name in _POOL_ARRAYS:
            np.save(path / f"pool_{name}.npy", getattr(pool, name), allow_pickle=False)
        faiss.write_index(index.index, str(path / "index.faiss"))
        if self.user_history is not None:
            self.user_history.save(path / "user_history.npz")
        (path / "history.json").write_text(
            json.dumps({"best_epoch": self.best_epoch, "epochs": self.history}, indent=2, default=str)
        )

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> LAN:
        path = Path(path)
        read_manifest(path, expect=cls.name)
        cfg = LANConfig.from_json(path / "config.json")
        if device is not None:
            cfg = cfg.replace(device=device)
        det = cls(cfg)
        det.model.load_state_dict({k: v.to(det.device) for k, v in load_file(str(path / "model.safetensors")).items()})
        det.model.eval()
        arrays = {n: np.load(path / f"pool_{n}.npy", allow_pickle=False) for n in _POOL_ARRAYS}
        vectors = np.load(path / "pool_vectors.npy", allow_pickle=False)
        det.pool = PrefixPool(vectors=vectors, **arrays)
        det.index = NeighbourIndex(
            vectors,
            det.pool.hashes,
            cfg.exact_below,
            cfg.hnsw_m,
            cfg.hnsw_ef_search,
            index=faiss.read_index(str(path / "index.faiss")),
        )
        if cfg.user_history:
            det.user_history = UserHistory.load(path / "user_history.npz")
        vocab = json.loads((path / "vocab.json").read_text())
        det.tokenizer, det.start_groups = vocab.get("tokenizer"), vocab.get("start_groups")
        if (path / "history.json").exists():
            h = json.loads((path / "history.json").read_text())
            det.history, det.best_epoch = h.get("epochs", []), h.get("best_epoch", -1)
        return det
