"""Alert thresholds calibrated to an investigation budget, alerts with reasons, and their store.

Two kinds of alert:
* `activity` — one activity whose score reaches the activity threshold;
* `risk` — a user's decayed risk (see `risk`) crossing the risk threshold upwards.

Both thresholds are chosen on the VALIDATION period so that, had the detector run live through
it, it would have raised about `budget_per_day` alerts of each kind per day — the number a team
can investigate. The test period never informs them.

Every alert carries the reasons an analyst checks it with: the observed activity and its
probability vs the model's most expected next activities, the nearest pool sessions the model
compared the session with, the user's risk trend, and the raw events that triggered it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neighborwatch.streaming.risk import risk_series

US = 1_000_000
STATUSES = ("open", "confirmed", "dismissed")
KINDS = ("activity", "risk")


@dataclass
class Thresholds:
    activity: float = float("inf")
    risk: float = float("inf")
    half_life_s: float = 24 * 3600.0
    budget_per_day: float | None = None
    calibrated_on: str = "default (no alerts until calibrated)"
    validation_days: float | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("activity", "risk"):  # JSON has no infinity
            d[k] = None if not np.isfinite(d[k]) else float(d[k])
        return d

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Thresholds":
        obj = dict(obj)
        for k in ("activity", "risk"):
            obj[k] = float("inf") if obj.get(k) is None else float(obj[k])
        return cls(**obj)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "Thresholds":
        return cls.from_json(json.loads(Path(path).read_text()))


def _top_threshold(values: np.ndarray, n_alerts: int) -> float:
    """Smallest threshold that at most `n_alerts` of `values` reach (ties never overshoot)."""
    v = np.sort(values[np.isfinite(values)])[::-1]
    if n_alerts <= 0 or v.size == 0:
        return float("inf")
    if n_alerts >= v.size:
        return float(v[-1])
    above = v[v > v[n_alerts]]
    return float(above[-1]) if above.size else float("inf")


def crossings(before: np.ndarray, after: np.ndarray, threshold: float) -> int:
    return int(np.count_nonzero((before < threshold) & (after >= threshold)))


def calibrate(scores: np.ndarray, times_us: np.ndarray, users: np.ndarray, budget_per_day: float,
              half_life_s: float = 24 * 3600.0, days: float | None = None,
              source: str = "validation") -> Thresholds:
    """Thresholds giving ≈ `budget_per_day` activity alerts and as many risk alerts per day."""
    if budget_per_day <= 0:
        raise ValueError("budget_per_day must be positive")
    scores = np.asarray(scores, dtype=np.float64)
    times_us = np.asarray(times_us, dtype=np.int64)
    if scores.size == 0 or not np.isfinite(scores).any():
        raise ValueError("cannot calibrate thresholds: no scored validation activities")
    if days is None:
        days = max(1.0, (times_us.max() - times_us.min()) / US / 86400.0)
    n_alerts = int(round(budget_per_day * days))
    act = _top_threshold(scores, n_alerts)
    before, after = risk_series(np.asarray(users), times_us, scores, half_life_s)
    # crossings fall (weakly) as the threshold rises: binary search the smallest within budget
    lo, hi = 0.0, float(after.max()) + 1e-9
    if crossings(before, after, hi) > n_alerts:
        risk = float("inf")
    else:
        for _ in range(60):
            mid = (lo + hi) / 2
            if crossings(before, after, mid) > n_alerts:
                lo = mid
            else:
                hi = mid
        risk = hi
    return Thresholds(activity=act, risk=risk, half_life_s=half_life_s, budget_per_day=budget_per_day,
                      calibrated_on=source, validation_days=float(days))


def token_reason(decode, token: int, prob: float) -> dict[str, Any]:
    try:
        word, hour = decode(int(token))
    except Exception:  # noqa: BLE001 — an explanation must never break scoring
        word, hour = f"token {token}", None
    return {"token": int(token), "activity": word, "hour": hour, "probability": round(float(prob), 6)}


def expected_reasons(decode, probs: np.ndarray, top: int = 5) -> list[dict[str, Any]]:
    idx = np.argsort(-probs)[:top]
    return [token_reason(decode, int(t), float(probs[t])) for t in idx if probs[t] > 0]


class AlertStore:
    """Alerts in SQLite (stdlib, durable, queryable by status / user / kind, pageable).

    `add` ignores an alert id it already holds, so replaying events after a crash never
    duplicates an alert nor resets the status an analyst gave it.
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL") if str(path) != ":memory:" else None
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS alerts (n INTEGER PRIMARY KEY AUTOINCREMENT, alert_id TEXT UNIQUE,"
            " kind TEXT, user TEXT, time_us INTEGER, score REAL, status TEXT, body TEXT)"
        )
        self._db.commit()

    def add(self, alert: dict[str, Any]) -> bool:
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO alerts (alert_id, kind, user, time_us, score, status, body)"
                " VALUES (?,?,?,?,?,?,?)",
                (alert["alert_id"], alert["kind"], alert["user"], alert["time_us"], alert["score"],
                 alert["status"], json.dumps(alert)),
            )
            self._db.commit()
            return cur.rowcount > 0

    def get(self, alert_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body, status FROM alerts WHERE alert_id=?", (alert_id,)).fetchone()
        if row is None:
            return None
        out = json.loads(row[0])
        out["status"] = row[1]
        return out

    def set_status(self, alert_id: str, status: str, note: str | None = None) -> dict[str, Any] | None:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        with self._lock:
            row = self._db.execute("SELECT body FROM alerts WHERE alert_id=?", (alert_id,)).fetchone()
            if row is None:
                return None
            body = json.loads(row[0])
            body["status"] = status
            if note is not None:
                body["note"] = note
            self._db.execute("UPDATE alerts SET status=?, body=? WHERE alert_id=?", (status, json.dumps(body), alert_id))
            self._db.commit()
        return body

    def query(self, status: str | None = None, user: str | None = None, kind: str | None = None,
              offset: int = 0, limit: int = 50) -> tuple[int, list[dict[str, Any]]]:
        """(total matching, one page newest first)."""
        where, args = [], []
        for col, val in (("status", status), ("user", user), ("kind", kind)):
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM alerts{clause}", args).fetchone()[0]
            rows = self._db.execute(
                f"SELECT body, status FROM alerts{clause} ORDER BY n DESC LIMIT ? OFFSET ?", [*args, limit, offset]
            ).fetchall()
        out = []
        for body, st in rows:
            d = json.loads(body)
            d["status"] = st
            out.append(d)
        return total, out

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT kind, status, COUNT(*) FROM alerts GROUP BY kind, status").fetchall()
        return {f"{k}:{s}": c for k, s, c in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()
