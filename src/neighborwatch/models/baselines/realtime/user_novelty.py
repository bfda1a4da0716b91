"""User novelty: how unusual an activity is for the user who does it (no sequence model at all).

The question an analyst asks first — has this user ever done this? — as a real-time score:

    p(token | user) = (c(user, token) + m · p_all(token)) / (n(user) + m)      score = −log p

c and n count the user's raw TRAINING events (malicious ones left out when labels are given, as
the other next-activity baselines train on normal targets); p_all is the whole organisation's
training share of the token (add-½ smoothed), so a user with little or no history — a user held
out for validation, a new hire — is judged by how rare the activity is for everyone, and `m`
pseudo-events set how fast a user's own habits take over. The score depends on the activity and
the acting user only, never on labels or later events; the first position of a sequence (the
start token) is not scored, as for every next-activity model. Saved as detector.json +
counts.npz; live: the same tables, looked up per event.
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
from neighborwatch.sequences.base import SequenceSet


@dataclass(frozen=True)
class UserNoveltyConfig(DetectorConfig):
    prior_events: float = 20.0  # m: pseudo-events of the organisation's mix in every user's counts
    seed: int = 42  # no random choice; accepted for a uniform interface

    def __post_init__(self) -> None:
        if not self.prior_events > 0:
            raise ValueError(f"prior_events must be > 0, got {self.prior_events}")


@dataclass
class NoveltyTables:
    """Training counts: per user × token (sorted codes user_index · vocab + token), per user, per token."""

    users: np.ndarray  # str [U], sorted
    codes: np.ndarray  # int64 [K], sorted
    counts: np.ndarray  # int64 [K]
    user_totals: np.ndarray  # int64 [U]
    token_counts: np.ndarray  # int64 [vocab]

    def surprisal(self, users: np.ndarray, tokens: np.ndarray, prior: float) -> np.ndarray:
        vocab = len(self.token_counts)
        tokens = np.asarray(tokens, dtype=np.int64)
        share = (self.token_counts[tokens] + 0.5) / (self.token_counts.sum() + 0.5 * vocab)
        idx = np.searchsorted(self.users, users)
        known = (idx < len(self.users)) & (self.users[np.minimum(idx, len(self.users) - 1)] == users)
        c = np.zeros(len(tokens))
        n = np.zeros(len(tokens))
        if known.any() and len(self.codes):
            q = idx[known] * vocab + tokens[known]
            at = np.minimum(np.searchsorted(self.codes, q), len(self.codes) - 1)
            c[known] = np.where(self.codes[at] == q, self.counts[at], 0)
            n[known] = self.user_totals[idx[known]]
        return -np.log((c + prior * share) / (n + prior))


@register
class UserNovelty(Detector):
    name: ClassVar[str] = "user_novelty"
    levels: ClassVar[frozenset[str]] = frozenset({ACTIVITY, SEQUENCE})
    Config = UserNoveltyConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {"standard": {}, "fast": {}}

    def __init__(self, config: UserNoveltyConfig | None = None, **overrides: Any) -> None:
        self.config = configure(self.Config, config, overrides, self.name)
        self.tables: NoveltyTables | None = None

    def fit(
        self,
        train: SequenceSet,
        train_labels: np.ndarray | None = None,
        validation: SequenceSet | None = None,
        validation_labels: np.ndarray | None = None,
    ) -> UserNovelty:
        positions = train.raw_positions()  # every raw event's position (start tokens are none)
        if train_labels is not None:
            positions = positions[~np.asarray(train_labels, dtype=bool)[positions]]
        users_of = train.position_users()[positions]
        tokens = train.tokens[positions].astype(np.int64)
        if tokens.size == 0:
            raise ValueError("user_novelty: no training activities")
        users, user_idx = np.unique(users_of, return_inverse=True)
        vocab = int(train.vocab_size)
        codes, counts = np.unique(user_idx.astype(np.int64) * vocab + tokens, return_counts=True)
        self.tables = NoveltyTables(
            users,
            codes,
            counts.astype(np.int64),
            np.bincount(user_idx, minlength=len(users)).astype(np.int64),
            np.bincount(tokens, minlength=vocab).astype(np.int64),
        )
        return self

    def _tables(self, doing: str = "score") -> NoveltyTables:
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
        t = self._tables("save")
        write_manifest(path, self.name, self.config.to_dict())
        np.savez(
            Path(path) / "counts.npz",
            users=t.users,
            codes=t.codes,
            counts=t.counts,
            user_totals=t.user_totals,
            token_counts=t.token_counts,
        )

    @classmethod
    def load(cls, path: str | Path) -> UserNovelty:
        det = cls(UserNoveltyConfig.from_dict(read_manifest(path, expect=cls.name)["config"], cls.name))
        with np.load(Path(path) / "counts.npz", allow_pickle=False) as z:
            det.tables = NoveltyTables(z["users"], z["codes"], z["counts"], z["user_totals"], z["token_counts"])
        return det


class NoveltyStreamScorer(StreamScorer):
    """The same lookup per live event; a session's only state is its length."""

    name = "user_novelty"

    def __init__(self, tables: NoveltyTables, prior: float, capacity: int = 64) -> None:
        self.tables, self.prior = tables, prior
        self.vocab_size = len(tables.token_counts)
        super().__init__(capacity)

    def _state_shapes(self) -> StateShapes:
        return {"length": ((), np.int64, 0)}

    def score(
        self, slots: np.ndarray, tokens: np.ndarray, times_us: np.ndarray, users: np.ndarray
    ) -> tuple[np.ndarray, Prediction | None]:
        users = np.asarray(users).astype(str)
        return self.tables.surprisal(users, tokens, self.prior), None

    def advance(self, slots: np.ndarray, tokens: np.ndarray, times_us: np.ndarray | None = None) -> None:
        slots = np.asarray(slots, dtype=np.int64)
        self.state["length"][slots] += 1

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "prior_events": self.prior, "vocab_size": self.vocab_size}
