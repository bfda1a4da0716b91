"""Per-user risk: an exponentially decayed sum of activity scores (event-time clock).

`risk(t) = risk(t_prev) · 2^(−(t − t_prev)/half_life) + score`. A burst of unlikely activities
lifts it quickly; a single odd activity fades within a few half-lives. Event time (not wall
time) drives the decay, so a replay gives the same risks as live operation and as calibration.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

US = 1_000_000
TIMELINE_POINTS = 500  # per user, for the dashboard and GET /users/{id}


@dataclass(slots=True)
class UserRisk:
    risk: float = 0.0
    last_us: int = 0
    events: int = 0
    alerts: int = 0
    timeline: deque = field(default_factory=lambda: deque(maxlen=TIMELINE_POINTS))  # (time_us, score, risk)


class RiskTracker:
    def __init__(self, half_life_s: float = 24 * 3600.0) -> None:
        if half_life_s <= 0:
            raise ValueError("half_life_s must be positive")
        self.half_life_s = float(half_life_s)
        self.users: dict[str, UserRisk] = {}

    def decayed(self, user: str, time_us: int) -> float:
        """The user's risk at `time_us` before anything new is added."""
        u = self.users.get(user)
        if u is None or u.events == 0:
            return 0.0
        dt = max(0, time_us - u.last_us) / US
        return u.risk * 0.5 ** (dt / self.half_life_s)

    def update(self, user: str, time_us: int, score: float) -> tuple[float, float]:
        """Add one activity score; returns (risk before, risk after)."""
        before = self.decayed(user, time_us)
        u = self.users.setdefault(user, UserRisk())
        score = float(score)
        finite = math.isfinite(score)
        after = before + (score if finite else 0.0)
        u.risk, u.last_us = after, max(u.last_us, time_us)
        u.events += 1
        u.timeline.append((int(time_us), score if finite else None, after))
        return before, after

    def trend(self, user: str, points: int = 20) -> list[dict[str, Any]]:
        u = self.users.get(user)
        if u is None:
            return []
        return [{"time_us": t, "score": s, "risk": r} for t, s, r in list(u.timeline)[-points:]]

    def to_json(self) -> dict[str, Any]:
        return {
            "half_life_s": self.half_life_s,
            "users": {k: {"risk": u.risk, "last_us": u.last_us, "events": u.events, "alerts": u.alerts,
                          "timeline": list(u.timeline)} for k, u in self.users.items()},
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "RiskTracker":
        out = cls(obj["half_life_s"])
        for k, u in obj["users"].items():
            out.users[k] = UserRisk(u["risk"], u["last_us"], u["events"], u["alerts"],
                                    deque((tuple(p) for p in u["timeline"]), maxlen=TIMELINE_POINTS))
        return out


def risk_series(users: np.ndarray, times_us: np.ndarray, scores: np.ndarray,
                half_life_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Batch twin of `RiskTracker` for calibration: (risk before, risk after) per activity.

    Activities are taken per user in time order; NaN scores add nothing (as live).
    """
    order = np.lexsort((times_us, users))
    before = np.zeros(len(scores))
    after = np.zeros(len(scores))
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0)
    prev_user, risk, last = None, 0.0, 0
    for i in order:
        u = users[i]
        if u != prev_user:
            prev_user, risk, last = u, 0.0, int(times_us[i])
        risk *= 0.5 ** (max(0, int(times_us[i]) - last) / US / half_life_s)
        before[i] = risk
        risk += s[i]
        after[i] = risk
        last = max(last, int(times_us[i]))
    return before, after
