"""The risk rule: how much MORE surprising a user's activity is than what is normal for them.

A detector's score (1 − P(observed)) is high for most activities of a large vocabulary, so a sum
of scores grows with how busy a user is, not with how odd. Risk is a decayed CUSUM of
standardised surprisal instead:

    surprisal s = −log P(observed)            (P = 1 − score)
    z = (s − μ_user) / σ_user                 (μ, σ: the user's baseline, shrunk to the peers')
    risk ← max(0, risk · 2^(−Δt / half_life) + z − slack)

Activity as surprising as usual adds z ≈ 0 and the slack pulls risk back to 0, however many such
activities there are; only a run of activities above the user's own normal lifts it. The
baseline (per-user mean and spread of surprisal, and the same pooled over all users = peers) is
learned on a reference period the thresholds are not calibrated on (see `alerting.calibrate`);
a user with few reference activities leans on the peers' (`prior` pseudo-activities).

This module holds the rule itself, shared by the live tracker (`streaming.risk.RiskTracker`) and
the offline calibration and evaluation (`risk_series`), so both compute the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neighborwatch.models.base import MIN_P, surprisal

US = 1_000_000


def step(risk: float, dt_us: int, z: float, half_life_s: float, slack: float) -> float:
    """One activity's update of a user's risk (`z` NaN: unscored, risk only decays)."""
    risk *= 0.5 ** (max(0, dt_us) / US / half_life_s)
    return risk if z != z else max(0.0, risk + z - slack)


def surprisal_one(score: float) -> float:
    """`surprisal` of one score without numpy (the live engine's per-event path: 3x cheaper)."""
    p = 1.0 - score
    return p if p != p else -math.log(min(1.0, max(MIN_P, p)))


@dataclass
class Baseline:
    """Mean and spread of surprisal per user and over all users (the peers)."""

    peer_mean: float = 0.0
    peer_std: float = 1.0
    users: dict[str, tuple[float, float, int]] = field(default_factory=dict)  # mean, std, n
    prior: float = 50.0  # pseudo-activities of the peers' baseline mixed into each user's
    min_std: float = 0.05
    _of: dict[str, tuple[float, float]] = field(default_factory=dict, repr=False, compare=False)  # memo of `of`

    @classmethod
    def fit(cls, users: np.ndarray, scores: np.ndarray, prior: float = 50.0) -> Baseline:
        s = surprisal(scores)
        ok = np.isfinite(s)
        users, s = np.asarray(users, dtype=object)[ok], s[ok]
        if s.size == 0:
            return cls(prior=prior)
        out = cls(float(s.mean()), float(max(s.std(), cls.min_std)), prior=prior)
        keys, inv = np.unique(users.astype(str), return_inverse=True)
        n = np.bincount(inv).astype(np.float64)
        mean = np.bincount(inv, s) / n
        var = np.maximum(np.bincount(inv, s * s) / n - mean**2, 0.0)
        out.users = {str(k): (float(m), float(math.sqrt(v)), int(c)) for k, m, v, c in zip(keys, mean, var, n)}
        return out

    def of(self, user: str) -> tuple[float, float]:
        """(μ, σ) for `user`: their own, shrunk towards the peers' by `prior` pseudo-activities.
        A fitted baseline does not change, so each user's pair is computed once (the live path
        asks for it on every activity)."""
        hit = self._of.get(user)
        if hit is not None:
            return hit
        own = self.users.get(user)
        if own is None:
            return self.peer_mean, self.peer_std
        m, sd, n = own
        w = n / (n + self.prior)
        mean = w * m + (1 - w) * self.peer_mean
        var = w * (sd**2 + (m - mean) ** 2) + (1 - w) * (self.peer_std**2 + (self.peer_mean - mean) ** 2)
        out = self._of[user] = (mean, max(math.sqrt(var), self.min_std))
        return out

    def z(self, users: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Standardised surprisal per activity (NaN where unscored)."""
        s = surprisal(scores)
        users = np.asarray(users, dtype=object).astype(str)
        keys, inv = np.unique(users, return_inverse=True)
        stats = np.array([self.of(str(k)) for k in keys]).reshape(-1, 2)
        return (s - stats[inv, 0]) / stats[inv, 1]

    def to_json(self) -> dict[str, Any]:
        return {
            "peer_mean": self.peer_mean,
            "peer_std": self.peer_std,
            "prior": self.prior,
            "users": {k: list(v) for k, v in self.users.items()},
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any] | None) -> Baseline:
        if not obj:
            return cls()
        return cls(
            float(obj["peer_mean"]),
            float(obj["peer_std"]),
            {k: (float(v[0]), float(v[1]), int(v[2])) for k, v in obj.get("users", {}).items()},
            float(obj.get("prior", 50.0)),
        )


def risk_series(
    users: np.ndarray,
    times_us: np.ndarray,
    scores: np.ndarray,
    half_life_s: float,
    baseline: Baseline | None = None,
    slack: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Batch twin of `RiskTracker` for calibration: (risk before, risk after) per activity.

    Activities are taken per user in time order; NaN scores leave risk unchanged (as live).
    """
    baseline = baseline or Baseline()
    users = np.asarray(users, dtype=object)
    z = baseline.z(users, scores).tolist()
    t = np.asarray(times_us, dtype=np.int64).tolist()
    order = np.lexsort((times_us, users.astype(str))).tolist()
    before = np.zeros(len(z))
    after = np.zeros(len(z))
    u_l = users.tolist()
    prev_user, risk, last = None, 0.0, 0
    for i in order:
        if u_l[i] != prev_user:
            prev_user, risk, last = u_l[i], 0.0, t[i]
        before[i] = risk * 0.5 ** (max(0, t[i] - last) / US / half_life_s)
        risk = step(risk, t[i] - last, z[i], half_life_s, slack)
        after[i] = risk
        last = max(last, t[i])
    return before, after
