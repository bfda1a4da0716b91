"""Isolation Forest (Liu, Ting, Zhou, ICDM 2008) on per-activity context features.

A feature-based, sequence-agnostic real-time baseline: each activity becomes a row of features
computed from the activity, its prefix and the user's TRAINING history only, and the forest
scores how easy that row is to isolate. Features (`FEATURES`):
  hour of day (from the event time), activity word ((token - 1) // 24, the word index of the
  word × hour tokenizers), token, index in the session, log1p seconds since the previous activity
  of the session, log1p minutes since the session started, the user's own training frequency of
  this token and of this hour, the token's global training frequency.
Users never seen in training get the global frequencies (a new employee is not anomalous for
being new). "Session length so far" is the index in the session + 1, so it is not repeated.
The first activity of a sequence is left NaN like every real-time baseline's, so all of them
are compared on the same positions.

Training rows: every scorable training activity (malicious ones dropped when labels are given),
at most `max_fit_rows` of them (seeded subsample). sklearn's forest cannot be saved without
pickle, so `save` stores those rows (features.npz) and the user profile, and `load` refits the
forest with the same seed — the same trees, the same scores (for the same scikit-learn version,
which the manifest records).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import sklearn
from sklearn.ensemble import IsolationForest as SkIsolationForest

from neighborwatch.models.base import ACTIVITY, SEQUENCE, Detector, NotFittedError
from neighborwatch.models.baselines._nextactivity import target_positions
from neighborwatch.models.manifest import read_manifest, register, write_manifest
from neighborwatch.models.options import DetectorConfig, configure
from neighborwatch.models.stream import Prediction, StateShapes, StreamScorer
from neighborwatch.sequences.base import SequenceSet

FEATURES = (
    "hour",
    "word",
    "token",
    "index",
    "log_gap_s",
    "log_elapsed_min",
    "user_token_freq",
    "user_hour_freq",
    "global_token_freq",
)
_US_PER_HOUR = 3_600_000_000


def _hours(seqs: SequenceSet) -> np.ndarray:
    return (seqs.times // _US_PER_HOUR) % 24


class UserProfile:
    """Per-user token and hour counts of the training period (plain arrays, saved as npz)."""

    def __init__(self, users: np.ndarray, token_counts: np.ndarray, hour_counts: np.ndarray) -> None:
        self.users, self.token_counts, self.hour_counts = users, token_counts, hour_counts

    @classmethod
    def count(cls, seqs: SequenceSet, positions: np.ndarray) -> UserProfile:
        users, idx = np.unique(seqs.position_users()[positions], return_inverse=True)
        tokens = np.zeros((len(users), seqs.vocab_size), dtype=np.int64)
        np.add.at(tokens, (idx, seqs.tokens[positions]), 1)
        hours = np.zeros((len(users), 24), dtype=np.int64)
        np.add.at(hours, (idx, _hours(seqs)[positions]), 1)
        return cls(users, tokens, hours)

    def frequencies(self, users: np.ndarray, tokens: np.ndarray, hours: np.ndarray) -> tuple[np.ndarray, ...]:
        """(user's token frequency, user's hour frequency, global token frequency) per row."""
        g_tok = self.token_counts.sum(0) / max(self.token_counts.sum(), 1)
        g_hour = self.hour_counts.sum(0) / max(self.hour_counts.sum(), 1)
        idx = np.minimum(np.searchsorted(self.users, users), len(self.users) - 1)
        known = self.users[idx] == users
        totals = np.maximum(self.token_counts.sum(1), 1)[idx]
        u_tok = np.where(known, self.token_counts[idx, tokens] / totals, g_tok[tokens])
        u_hour = np.where(known, self.hour_counts[idx, hours] / totals, g_hour[hours])
        return u_tok, u_hour, g_tok[tokens]


def context_features(seqs: SequenceSet, positions: np.ndarray, profile: UserProfile) -> np.ndarray:
    """float64 [len(positions), len(FEATURES)]; uses only the activity, its prefix and `profile`."""
    index = seqs.position_in_sequence()[positions]
    start = seqs.times[np.repeat(seqs.offsets[:-1], seqs.lengths)[positions]]
    previous = seqs.times[np.where(index > 0, positions - 1, positions)]
    return feature_rows(
        seqs.tokens[positions], seqs.times[positions], index, start, previous, seqs.position_users()[positions], profile
    )


def feature_rows(
    tokens: np.ndarray,
    times: np.ndarray,
    index: np.ndarray,
    start: np.ndarray,
    previous: np.ndarray,
    users: np.ndarray,
    profile: UserProfile,
) -> np.ndarray:
    """The FEATURES of activities given what their session showed before (batch and live)."""
    tokens = np.asarray(tokens, dtype=np.int64)
    hours = (times // _US_PER_HOUR) % 24
    gap_s = np.maximum(times - previous, 0) / 1e6
    elapsed_min = np.maximum(times - start, 0) / 6e7
    u_tok, u_hour, g_tok = profile.frequencies(np.asarray(users).astype(str), tokens, hours)
    return np.column_stack(
        [hours, (tokens - 1) // 24, tokens, index, np.log1p(gap_s), np.log1p(elapsed_min), u_tok, u_hour, g_tok]
    ).astype(np.float64)


@dataclass(frozen=True)
class IForestConfig(DetectorConfig):
    n_estimators: int = 200
    max_samples: int = 256
    max_fit_rows: int = 200_000
    seed: int = 42

    def __post_init__(self) -> None:
        if self.n_estimators < 1 or self.max_samples < 2 or self.max_fit_rows < 2:
            raise ValueError("n_estimators >= 1, max_samples >= 2 and max_fit_rows >= 2 are required")


@register
class ContextIsolationForest(Detector):
    name: ClassVar[str] = "iforest"
    levels: ClassVar[frozenset[str]] = frozenset({ACTIVITY, SEQUENCE})
    Config = IForestConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {"fast": {"n_estimators": 50, "max_fit_rows": 20_000}}

    def __init__(self, config: IForestConfig | None = None, **overrides: Any) -> None:
        self.config = configure(self.Config, config, overrides, self.name)
        self.vocab_size: int | None = None
        self.profile: UserProfile | None = None
        self.fit_rows: np.ndarray | None = None
        self.forest: SkIsolationForest | None = None

    def fit(
        self,
        train: SequenceSet,
        train_labels: np.ndarray | None = None,
        validation: SequenceSet | None = None,
        validation_labels: np.ndarray | None = None,
    ) -> ContextIsolationForest:
        positions = target_positions(train, train_labels)
        if positions.size < 2:
            raise ValueError("iforest: fewer than 2 training positions")
        rng = np.random.default_rng(self.config.seed)
        self.vocab_size = int(train.vocab_size)
        self.profile = UserProfile.count(train, positions)
        if positions.size > self.config.max_fit_rows:
            positions = np.sort(rng.choice(positions, self.config.max_fit_rows, replace=False))
        self.fit_rows = context_features(train, positions, self.profile)
        self._grow_forest()
        return self

    def _grow_forest(self) -> None:
        assert self.fit_rows is not None
        c = self.config
        self.forest = SkIsolationForest(
            n_estimators=c.n_estimators, max_samples=min(c.max_samples, len(self.fit_rows)), random_state=c.seed
        ).fit(self.fit_rows)

    def score_activities(self, seqs: SequenceSet) -> np.ndarray:
        if self.forest is None or self.profile is None:
            raise NotFittedError("iforest")
        if seqs.vocab_size != self.vocab_size:
            raise ValueError(f"iforest was trained on vocab_size {self.vocab_size}, got {seqs.vocab_size}")
        out = np.full(seqs.n_activities, np.nan)
        positions = target_positions(seqs)
        if positions.size:
            out[positions] = -self.forest.score_samples(context_features(seqs, positions, self.profile))
        return out

    def stream_scorer(self) -> IsolationForestStreamScorer:
        if self.forest is None or self.profile is None:
            raise NotFittedError("iforest")
        return IsolationForestStreamScorer(self)

    def save(self, path: str | Path) -> None:
        if self.forest is None or self.profile is None or self.fit_rows is None:
            raise NotFittedError("iforest", "save")
        write_manifest(
            path,
            self.name,
            {
                **self.config.to_dict(),
                "vocab_size": self.vocab_size,
                "features": list(FEATURES),
                "sklearn": sklearn.__version__,
            },
        )
        np.savez(
            Path(path) / "features.npz",
            fit_rows=self.fit_rows,
            users=self.profile.users,
            token_counts=self.profile.token_counts,
            hour_counts=self.profile.hour_counts,
        )

    @classmethod
    def load(cls, path: str | Path) -> ContextIsolationForest:
        config = dict(read_manifest(path, expect=cls.name)["config"])
        if config.get("features") != list(FEATURES):
            raise ValueError(f"{path} was saved with other features: {config.get('features')}")
        vocab_size = int(config.pop("vocab_size"))
        for key in ("features", "sklearn"):
            config.pop(key, None)
        det = cls(IForestConfig.from_dict(config, cls.name))
        det.vocab_size = vocab_size
        with np.load(Path(path) / "features.npz", allow_pickle=False) as z:
            det.fit_rows = z["fit_rows"]
            det.profile = UserProfile(z["users"], z["token_counts"], z["hour_counts"])
        det._grow_forest()
        return det


class IsolationForestStreamScorer(StreamScorer):
    """Per session: how many activities, when it started, when the last one was; the features
    of a new activity follow from those, its own token, time and user (no next-activity model,
    so `score` is overridden and there is no prediction to show)."""

    def __init__(self, detector: ContextIsolationForest, capacity: int = 256) -> None:
        assert detector.vocab_size is not None
        self.det = detector
        self.name = detector.name
        self.vocab_size = detector.vocab_size
        super().__init__(capacity)

    def _state_shapes(self) -> StateShapes:
        return {"length": ((), np.int64, 0), "start_us": ((), np.int64, 0), "last_us": ((), np.int64, 0)}

    def score(
        self, slots: np.ndarray, tokens: np.ndarray, times_us: np.ndarray, users: np.ndarray
    ) -> tuple[np.ndarray, Prediction | None]:
        st = self.state
        assert self.det.forest is not None and self.det.profile is not None
        rows = feature_rows(
            tokens,
            np.asarray(times_us, dtype=np.int64),
            st["length"][slots],
            st["start_us"][slots],
            st["last_us"][slots],
            users,
            self.det.profile,
        )
        return -self.det.forest.score_samples(rows), None

    def advance(self, slots: np.ndarray, tokens: np.ndarray, times_us: np.ndarray | None = None) -> None:
        if times_us is None:
            raise ValueError("iforest's live scorer needs the event times")
        st, slots = self.state, np.asarray(slots, dtype=np.int64)
        first = st["length"][slots] == 0
        st["start_us"][slots[first]] = np.asarray(times_us)[first]
        st["last_us"][slots] = times_us
        st["length"][slots] += 1
