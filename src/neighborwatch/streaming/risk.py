"""Per-user risk: how much MORE surprising a user's activity is than what is normal for them.

A detector's score (1 − P(observed)) is high for most activities of a large vocabulary, so a sum
of scores grows with how busy a user is, not with how odd. Risk here is a decayed CUSUM of
standardised surprisal instead:

    surprisal s = −log P(observed)            (P = 1 − score)
    z = (s − μ_user) / σ_user                 (μ, σ: the user's baseline, shrunk to the peers')
    risk ← max(0, risk · 2^(−Δt / half_life) + z − slack)

Activity as surprising as usual adds z ≈ 0 and the slack pulls risk back to 0, however many such
activities there are; only a run of activities above the user's own normal lifts it. The
baseline (per-user mean and spread of surprisal, and the same pooled over all users = peers) is
learned on a reference period the thresholds are not calibrated on (see `alerts.calibrate`);
a user with few reference activities leans on the peers' (`prior` pseudo-activities). Event time
drives the decay, so a replay gives the same risks as live operation and as calibration.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

US = 1_000_000
DAY_US = 86_400 * US
TIMELINE_POINTS = 500  # per user, for the dashboard and GET /users/{id}
MIN_P = 1e-9  # surprisal is capped at −log(MIN_P) ≈ 20.7 nats


def surprisal(score: float | np.ndarray) -> Any:
    """−log P(observed) from a score 1 − P (NaN stays NaN)."""
    return -np.log(np.clip(1.0 - np.asarray(score, dtype=np.float64), MIN_P, 1.0))


@dataclass
class Baseline:
    """Mean and spread of surprisal per user and over all users (the peers)."""

    peer_mean: float = 0.0
    peer_std: float = 1.0
    users: dict[str, tuple[float, float, int]] = field(default_factory=dict)  # mean, std, n
    prior: float = 50.0  # pseudo-activities of the peers' baseline mixed into each user's
    min_std: float = 0.05

    @classmethod
    def fit(cls, users: np.ndarray, scores: np.ndarray, prior: float = 50.0) -> "Baseline":
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
        """(μ, σ) for `user`: their own, shrunk towards the peers' by `prior` pseudo-activities."""
        own = self.users.get(user)
        if own is None:
            return self.peer_mean, self.peer_std
        m, sd, n = own
        w = n / (n + self.prior)
        mean = w * m + (1 - w) * self.peer_mean
        var = w * (sd**2 + (m - mean) ** 2) + (1 - w) * (self.peer_std**2 + (self.peer_mean - mean) ** 2)
        return mean, max(math.sqrt(var), self.min_std)

    def z(self, users: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Standardised surprisal per activity (NaN where unscored)."""
        s = surprisal(scores)
        users = np.asarray(users, dtype=object).astype(str)
        keys, inv = np.unique(users, return_inverse=True)
        stats = np.array([self.of(str(k)) for k in keys]).reshape(-1, 2)
        return (s - stats[inv, 0]) / stats[inv, 1]

    def to_json(self) -> dict[str, Any]:
        return {"peer_mean": self.peer_mean, "peer_std": self.peer_std, "prior": self.prior,
                "users": {k: list(v) for k, v in self.users.items()}}

    @classmethod
    def from_json(cls, obj: dict[str, Any] | None) -> "Baseline":
        if not obj:
            return cls()
        return cls(float(obj["peer_mean"]), float(obj["peer_std"]),
                   {k: (float(v[0]), float(v[1]), int(v[2])) for k, v in obj.get("users", {}).items()},
                   float(obj.get("prior", 50.0)))


@dataclass(slots=True)
class UserRisk:
    risk: float = 0.0
    last_us: int = 0
    events: int = 0
    alerts: int = 0
    timeline: deque = field(default_factory=lambda: deque(maxlen=TIMELINE_POINTS))  # (time_us, score, risk)
    day: int = -1  # event-time day of `day_n` / `day_surprisal` (the dashboard's "today")
    day_n: int = 0
    day_surprisal: float = 0.0


class RiskTracker:
    def __init__(self, half_life_s: float = 24 * 3600.0, baseline: Baseline | None = None,
                 slack: float = 1.0) -> None:
        if half_life_s <= 0:
            raise ValueError("half_life_s must be positive")
        self.half_life_s = float(half_life_s)
        self.baseline = baseline or Baseline()
        self.slack = float(slack)
        self.users: dict[str, UserRisk] = {}

    def decayed(self, user: str, time_us: int) -> float:
        """The user's risk at `time_us` before anything new is added."""
        u = self.users.get(user)
        if u is None or u.events == 0:
            return 0.0
        dt = max(0, time_us - u.last_us) / US
        return u.risk * 0.5 ** (dt / self.half_life_s)

    def z(self, user: str, score: float) -> float:
        mean, std = self.baseline.of(user)
        return (float(surprisal(score)) - mean) / std

    def update(self, user: str, time_us: int, score: float) -> tuple[float, float]:
        """Add one activity score; returns (risk before, risk after)."""
        before = self.decayed(user, time_us)
        u = self.users.setdefault(user, UserRisk())
        score = float(score)
        finite = math.isfinite(score)
        after = max(0.0, before + self.z(user, score) - self.slack) if finite else before
        u.risk, u.last_us = after, max(u.last_us, time_us)
        u.events += 1
        u.timeline.append((int(time_us), score if finite else None, after))
        if finite:
            day = int(time_us // DAY_US)
            if day != u.day:
                u.day, u.day_n, u.day_surprisal = day, 0, 0.0
            u.day_n += 1
            u.day_surprisal += float(surprisal(score))
        return before, after

    def trend(self, user: str, points: int = 20) -> list[dict[str, Any]]:
        u = self.users.get(user)
        if u is None:
            return []
        return [{"time_us": t, "score": s, "risk": r} for t, s, r in list(u.timeline)[-points:]]

    def profile(self, user: str) -> dict[str, Any]:
        """The user's and the peers' baseline next to the user's latest day (for triage)."""
        mean, std = self.baseline.of(user)
        own = self.baseline.users.get(user)
        u = self.users.get(user)
        today = None
        if u is not None and u.day_n:
            today = {"day_start_us": u.day * DAY_US, "activities": u.day_n,
                     "mean_surprisal": round(u.day_surprisal / u.day_n, 4)}
        return {"user": {"mean_surprisal": round(mean, 4), "std": round(std, 4),
                         "reference_activities": own[2] if own else 0},
                "peers": {"mean_surprisal": round(self.baseline.peer_mean, 4),
                          "std": round(self.baseline.peer_std, 4), "users": len(self.baseline.users)},
                "today": today}

    def to_json(self) -> dict[str, Any]:
        return {
            "half_life_s": self.half_life_s, "slack": self.slack, "baseline": self.baseline.to_json(),
            "users": {k: {"risk": u.risk, "last_us": u.last_us, "events": u.events, "alerts": u.alerts,
                          "timeline": list(u.timeline), "day": [u.day, u.day_n, u.day_surprisal]}
                      for k, u in self.users.items()},
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "RiskTracker":
        out = cls(obj["half_life_s"], Baseline.from_json(obj.get("baseline")), obj.get("slack", 1.0))
        for k, u in obj["users"].items():
            day = u.get("day", [-1, 0, 0.0])
            out.users[k] = UserRisk(u["risk"], u["last_us"], u["events"], u["alerts"],
                                    deque((tuple(p) for p in u["timeline"]), maxlen=TIMELINE_POINTS),
                                    int(day[0]), int(day[1]), float(day[2]))
        return out


def risk_series(users: np.ndarray, times_us: np.ndarray, scores: np.ndarray, half_life_s: float,
                baseline: Baseline | None = None, slack: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
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
        risk *= 0.5 ** (max(0, t[i] - last) / US / half_life_s)
        before[i] = risk
        if z[i] == z[i]:  # not NaN
            risk = max(0.0, risk + z[i] - slack)
        after[i] = risk
        last = max(last, t[i])
    return before, after
