"""Per-user risk, live: the risk rule (`evaluation.riskmodel`) applied event by event.

Keeps each user's risk, a bounded timeline of (time, score, risk) for the dashboard, and the
latest day's surprisal next to the user's baseline. Event time (not wall time) drives the decay,
so a replay gives the same risks as live operation and as calibration (`risk_series`).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from neighborwatch.evaluation.riskmodel import Baseline, risk_series, step, surprisal, surprisal_one

__all__ = ["Baseline", "RiskTracker", "UserRisk", "risk_series", "surprisal"]

US = 1_000_000
DAY_US = 86_400 * US
TIMELINE_POINTS = 500  # per user, for the dashboard and GET /users/{id}


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
    def __init__(self, half_life_s: float = 24 * 3600.0, baseline: Baseline | None = None, slack: float = 1.0) -> None:
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
        return self._z(user, surprisal_one(float(score)))

    def _z(self, user: str, surprisal: float) -> float:
        mean, std = self.baseline.of(user)
        return (surprisal - mean) / std

    def update(self, user: str, time_us: int, score: float) -> tuple[float, float, float]:
        """Add one activity score; returns (risk before, risk after, the activity's z against the
        user's baseline — NaN when unscored), so that callers need not compute z again."""
        before = self.decayed(user, time_us)
        u = self.users.get(user)
        if u is None:  # not setdefault: that would build a UserRisk (and its deque) for every activity
            u = self.users[user] = UserRisk()
        score = float(score)
        finite = math.isfinite(score)
        s = surprisal_one(score) if finite else math.nan
        z = self._z(user, s)
        after = step(before, 0, z, self.half_life_s, self.slack)  # NaN z: risk only decays
        u.risk, u.last_us = after, max(u.last_us, time_us)
        u.events += 1
        u.timeline.append((int(time_us), score if finite else None, after))
        if finite:
            day = int(time_us // DAY_US)
            if day != u.day:
                u.day, u.day_n, u.day_surprisal = day, 0, 0.0
            u.day_n += 1
            u.day_surprisal += s
        return before, after, z

    def forget_idle(self, before_us: int) -> list[str]:
        """Remove users whose last activity is older than `before_us`; returns their names."""
        gone = [k for k, u in self.users.items() if u.last_us < before_us]
        for k in gone:
            del self.users[k]
        return gone

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
            today = {
                "day_start_us": u.day * DAY_US,
                "activities": u.day_n,
                "mean_surprisal": round(u.day_surprisal / u.day_n, 4),
            }
        return {
            "user": {
                "mean_surprisal": round(mean, 4),
                "std": round(std, 4),
                "reference_activities": own[2] if own else 0,
            },
            "peers": {
                "mean_surprisal": round(self.baseline.peer_mean, 4),
                "std": round(self.baseline.peer_std, 4),
                "users": len(self.baseline.users),
            },
            "today": today,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "half_life_s": self.half_life_s,
            "slack": self.slack,
            "baseline": self.baseline.to_json(),
            "users": {
                k: {
                    "risk": u.risk,
                    "last_us": u.last_us,
                    "events": u.events,
                    "alerts": u.alerts,
                    "timeline": list(u.timeline),
                    "day": [u.day, u.day_n, u.day_surprisal],
                }
                for k, u in self.users.items()
            },
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RiskTracker:
        out = cls(obj["half_life_s"], Baseline.from_json(obj.get("baseline")), obj.get("slack", 1.0))
        for k, u in obj["users"].items():
            day = u.get("day", [-1, 0, 0.0])
            out.users[k] = UserRisk(
                u["risk"],
                u["last_us"],
                u["events"],
                u["alerts"],
                deque((tuple(p) for p in u["timeline"]), maxlen=TIMELINE_POINTS),
                int(day[0]),
                int(day[1]),
                float(day[2]),
            )
        return out
