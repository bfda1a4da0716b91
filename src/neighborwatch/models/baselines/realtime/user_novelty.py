"""User novelty: how unusual an activity is for the user who does it (no sequence model at all).

score = −log p(token | user), the user's own training mix shrunk to the organisation's by `m`
pseudo-events (`models/user_history.py`), so a user without history — held out for validation,
a new hire — is judged by how rare the activity is for everyone. The score depends on the
activity and the acting user only, never on labels or later events; the first position of a
sequence (the start token) is not scored, as for every next-activity model. Saved as
detector.json + counts.npz; live: the same tables, looked up per event.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from neighborwatch.models.base import ACTIVITY, SEQUENCE, Detector, NotFittedError
from neighborwatch.models.manifest import read_manifest, register, write_manifest
from neighborwatch.models.options import DetectorConfig, configure
from neighborwatch.models.stream import Prediction, StateShapes, StreamScorer
from neighborwatch.models.user_history import UserHistory
from neighborwatch.sequences.base import SequenceSet


@dataclass(frozen=True)
class UserNoveltyConfig(DetectorConfig):
    prior_events: float = 20.0  # m: pseudo-events of the organisation's mix in every user's counts
    seed: int = 42  # no random choice; accepted for a uniform interface

    def __post_init__(self) -> None:
        if not self.prior_events > 0:
            raise ValueError(f"prior_events must be > 0, got {self.prior_events}")


@register
class UserNovelty(Detector):
    name: ClassVar[str] = "user_novelty"
    levels: ClassVar[frozenset[str]] = frozenset({ACTIVITY, SEQUENCE})
    Config = UserNoveltyConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {"standard": {}, "fast": {}}

    def __init__(self, config: UserNoveltyConfig | None = None, **overrides: Any) -> None:
        self.config = configure(self.Config, config, overrides, self.name)
        self.tables: UserHistory | None = None

    def fit(
        self,
        train: SequenceSet,
        train_labels: np.ndarray | None = None,
        validation: SequenceSet | None = None,
        validation_labels: np.ndarray | None = None,
    ) -> UserNovelty:
        self.tables = UserHistory.fit(train, train_labels)
        return self

    def learn_new_users(self, seqs: SequenceSet, labels: np.ndarray) -> int:
        before = self._tables("learn new users")
        self.tables = before.with_new_users(seqs, labels)
        return len(self.tables.users) - len(before.users)

    def _tables(self, doing: str = "score") -> UserHistory:
        if self.tables is None:
            raise NotFittedError(self.name, doing)
        return self.tables

    def score_activities(self, seqs: SequenceSet) -> np.ndarray:
        tables = self._tables()
        out = tables.surprisal(seqs.position_users(), seqs.tokens, self.config.prior_events)
        out[seqs.position_in_sequence() == 0] = np.nan
        return out

    def stream_scorer(self) -> StreamScorer:
        return NoveltyStreamScorer(self._tables("stream"), self.config.prior_events)

    def save(self, path: str | Path) -> None:
        tables = self._tables("save")
        write_manifest(path, self.name, self.config.to_dict())
        tables.save(Path(path) / "counts.npz")

    @classmethod
    def load(cls, path: str | Path) -> UserNovelty:
        det = cls(UserNoveltyConfig.from_dict(read_manifest(path, expect=cls.name)["config"], cls.name))
        det.tables = UserHistory.load(Path(path) / "counts.npz")
        return det


class NoveltyStreamScorer(StreamScorer):
    """The same lookup per live event; a session's only state is its length."""

    name = "user_novelty"

    def __init__(self, tables: UserHistory, prior: float, capacity: int = 64) -> None:
        self.tables, self.prior = tables, prior
        self.vocab_size = tables.vocab_size
        super().__init__(capacity)

    def _state_shapes(self) -> StateShapes:
        return {"length": ((), np.int64, 0)}

    def score(
        self, slots: np.ndarray, tokens: np.ndarray, times_us: np.ndarray, users: np.ndarray
    ) -> tuple[np.ndarray, Prediction | None]:
        return self.tables.surprisal(users, tokens, self.prior), None

    def advance(self, slots: np.ndarray, tokens: np.ndarray, times_us: np.ndarray | None = None) -> None:
        slots = np.asarray(slots, dtype=np.int64)
        self.state["length"][slots] += 1

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "prior_events": self.prior, "vocab_size": self.vocab_size}
