"""Alert thresholds calibrated to an analyst's budget of incidents, alerts with reasons, their store.

Two kinds of alert (rules in `incidents`): `activity` — one activity whose score reaches the
activity threshold; `risk` — a user's risk (surprisal above their own baseline, see `risk`)
reaching the risk threshold, with hysteresis, once per incident. Alerts group into incidents.

The budget is what a team can work: `budget_per_day` incidents per 100 users per day (default
5). The VALIDATION period fixes everything, the test period never informs it: its first half
gives each user's baseline, its second half the thresholds — so thresholds are set, as live,
on activity the baseline has not seen. Half the budget goes to activity alerts, the rest to risk.

Every alert carries the reasons an analyst checks it with: the observed activity and its
probability vs the model's most expected next activities, the nearest pool sessions the model
compared the session with, the user's risk trend, the raw events that triggered it, and its
incident (every contributing activity, start, end, peak, the activities that drove it).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neighborwatch.streaming.incidents import IncidentRules, run_incidents
from neighborwatch.streaming.risk import Baseline, risk_series

US = 1_000_000
STATUSES = ("open", "confirmed", "dismissed")
KINDS = ("activity", "risk")
ACTIVITY_SHARE = 0.5  # of the incident budget given to activity alerts


@dataclass
class Thresholds:
    activity: float = float("inf")
    risk: float = float("inf")
    half_life_s: float = 24 * 3600.0
    budget_per_day: float | None = None  # incidents per 100 users per day
    calibrated_on: str = "default (no alerts until calibrated)"
    validation_days: float | None = None
    slack: float = 1.0  # risk's CUSUM slack, in standard deviations of surprisal
    baseline: dict[str, Any] | None = None  # Baseline.to_json(); None = surprisal as is
    rules: dict[str, Any] = field(default_factory=lambda: IncidentRules().to_json())
    calibration: dict[str, Any] | None = None  # what the thresholds gave on the calibration part

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("activity", "risk"):  # JSON has no infinity
            d[k] = None if not np.isfinite(d[k]) else float(d[k])
        return d

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Thresholds":
        obj = dict(obj)
        if obj.get("budget_per_day") is not None and "rules" not in obj:
            raise ValueError("these thresholds were calibrated by an older version (risk was a sum of scores); "
                             "delete the thresholds.json file to calibrate again")
        for k in ("activity", "risk"):
            obj[k] = float("inf") if obj.get(k) is None else float(obj[k])
        return cls(**obj)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "Thresholds":
        return cls.from_json(json.loads(Path(path).read_text()))

    def risk_baseline(self) -> Baseline:
        return Baseline.from_json(self.baseline)

    def incident_rules(self) -> IncidentRules:
        return IncidentRules(**self.rules)


def crossings(before: np.ndarray, after: np.ndarray, threshold: float) -> int:
    return int(np.count_nonzero((before < threshold) & (after >= threshold)))


def _count(users, times, scores, z, before, after, activity, risk, rules) -> int:
    return len(run_incidents(users, times, scores, z, before, after, activity, risk, rules)[1])


def _activity_threshold(users, times, scores, z, zeros, target: float, rules: IncidentRules) -> float:
    """Lowest score threshold whose activity alerts alone open at most `target` incidents."""
    v = np.unique(scores[np.isfinite(scores)])[::-1]  # descending candidates
    if v.size == 0 or target < 1:
        return float("inf")
    lo, hi = 0, v.size - 1  # find the largest index whose threshold stays within target
    if _count(users, times, scores, z, zeros, zeros, v[0], np.inf, rules) > target:
        return float("inf")
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _count(users, times, scores, z, zeros, zeros, v[mid], np.inf, rules) <= target:
            lo = mid
        else:
            hi = mid - 1
    return float(v[lo])


def calibrate(scores: np.ndarray, times_us: np.ndarray, users: np.ndarray, budget_per_day: float,
              half_life_s: float = 24 * 3600.0, days: float | None = None,
              source: str = "validation", slack: float = 1.0,
              rules: IncidentRules | None = None) -> Thresholds:
    """Baseline and thresholds giving ≈ `budget_per_day` incidents per 100 users per day.

    `scores`, `times_us`, `users`: the validation period's activities; `days` its length.
    """
    if budget_per_day <= 0:
        raise ValueError("budget_per_day must be positive")
    scores = np.asarray(scores, dtype=np.float64)
    times_us = np.asarray(times_us, dtype=np.int64)
    users = np.asarray(users, dtype=object).astype(str)
    if scores.size == 0 or not np.isfinite(scores).any():
        raise ValueError("cannot calibrate thresholds: no scored validation activities")
    rules = rules or IncidentRules()
    span = max(1.0, (times_us.max() - times_us.min()) / US / 86400.0)
    days = float(days) if days is not None else span
    t0 = times_us.min()
    cut = t0 + int(days / 2 * 86400 * US)
    ref, cal = times_us < cut, times_us >= cut
    cal_days = days - days / 2
    if days < 4 or not np.isfinite(scores[ref]).any() or not np.isfinite(scores[cal]).any():
        # too short to split: baseline and thresholds from the same activities
        ref = cal = np.ones(scores.size, dtype=bool)
        cal_days = days
    baseline = Baseline.fit(users[ref], scores[ref])
    n_users = len(np.unique(users))
    target = budget_per_day * n_users / 100.0 * cal_days
    u, t, s = users[cal], times_us[cal], scores[cal]
    z = baseline.z(u, s)
    before, after = risk_series(u, t, s, half_life_s, baseline, slack)
    zeros = np.zeros(s.size)
    # a small organisation's share may round below one incident: still allow one when any fits
    act_target = max(1.0, round(ACTIVITY_SHARE * target)) if target >= 1 else 0.0
    act = _activity_threshold(u, t, s, z, zeros, act_target, rules)
    # incidents fall (nearly) monotonically as the risk threshold rises: bisect the lowest within budget
    lo, hi = 0.0, float(after.max()) + 1e-9
    if _count(u, t, s, z, before, after, act, hi, rules) > target:
        risk = float("inf")
    else:
        for _ in range(30):
            mid = (lo + hi) / 2
            if _count(u, t, s, z, before, after, act, mid, rules) > target:
                lo = mid
            else:
                hi = mid
        risk = hi
    kinds, incidents = run_incidents(u, t, s, z, before, after, act, risk, rules)
    calibration = {"users": n_users, "days": round(cal_days, 3), "target_incidents": round(target, 2),
                   "incidents": len(incidents), "alerts": kinds,
                   "incidents_per_100_users_per_day": round(len(incidents) / max(n_users, 1) * 100 / cal_days, 3),
                   "baseline_days": round(days - cal_days, 3) if cal_days < days else round(days, 3)}
    return Thresholds(activity=act, risk=risk, half_life_s=half_life_s, budget_per_day=budget_per_day,
                      calibrated_on=source, validation_days=float(days), slack=slack,
                      baseline=baseline.to_json(), rules=rules.to_json(), calibration=calibration)


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
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS incidents (incident_id TEXT PRIMARY KEY, user TEXT, start_us INTEGER,"
            " end_us INTEGER, peak_risk REAL, peak_score REAL, kinds TEXT, alerts INTEGER, n_activities INTEGER,"
            " status TEXT DEFAULT 'open', note TEXT, body TEXT)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS incidents_start ON incidents (start_us)")
        self._db.commit()

    def add(self, alert: dict[str, Any]) -> bool:
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO alerts (alert_id, kind, user, time_us, score, status, body)"
                " VALUES (?,?,?,?,?,?,?)",
                (alert["alert_id"], alert["kind"], alert["user"], alert["time_us"], alert["score"],
                 alert["status"], json.dumps(alert)),
            )
            new = cur.rowcount > 0
            if new and alert.get("incident"):
                self._upsert_incident(alert["incident"])
            self._db.commit()
            return new

    def _upsert_incident(self, inc: dict[str, Any]) -> None:
        """The incident as of its latest alert; an analyst's status and note are kept."""
        self._db.execute(
            "INSERT INTO incidents (incident_id, user, start_us, end_us, peak_risk, peak_score, kinds, alerts,"
            " n_activities, body) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(incident_id) DO UPDATE SET"
            " start_us=excluded.start_us, end_us=excluded.end_us, peak_risk=excluded.peak_risk,"
            " peak_score=excluded.peak_score, kinds=excluded.kinds, alerts=excluded.alerts,"
            " n_activities=excluded.n_activities, body=excluded.body",
            (inc["incident_id"], inc["user"], inc["start_us"], inc["end_us"], inc["peak_risk"], inc["peak_score"],
             ",".join(sorted(inc["kinds"])), inc["alerts"], inc["n_activities"], json.dumps(inc)),
        )

    def query_incidents(self, status: str | None = None, user: str | None = None, kind: str | None = None,
                        since_us: int | None = None, until_us: int | None = None, offset: int = 0,
                        limit: int = 50, order: str = "peak") -> tuple[int, list[dict[str, Any]]]:
        """(total matching, one page): riskiest first (`peak`) or newest first (`recent`)."""
        where, args = [], []
        for clause, val in (("status=?", status), ("user=?", user), ("end_us>=?", since_us),
                            ("start_us<=?", until_us)):
            if val is not None:
                where.append(clause)
                args.append(val)
        if kind is not None:
            where.append("(',' || kinds || ',') LIKE ?")
            args.append(f"%,{kind},%")
        sql = f" WHERE {' AND '.join(where)}" if where else ""
        by = "peak_risk DESC, peak_score DESC, start_us DESC" if order == "peak" else "start_us DESC"
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM incidents{sql}", args).fetchone()[0]
            rows = self._db.execute(f"SELECT body, status, note FROM incidents{sql} ORDER BY {by} LIMIT ? OFFSET ?",
                                    [*args, limit, offset]).fetchall()
        return total, [dict(json.loads(b), status=st, note=note) for b, st, note in rows]

    def get_incident(self, incident_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body, status, note FROM incidents WHERE incident_id=?",
                                   (incident_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]), status=row[1], note=row[2])

    def set_incident_status(self, incident_id: str, status: str, note: str | None = None) -> dict[str, Any] | None:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        with self._lock:
            cur = self._db.execute("UPDATE incidents SET status=?, note=COALESCE(?, note) WHERE incident_id=?",
                                   (status, note, incident_id))
            self._db.commit()
        return self.get_incident(incident_id) if cur.rowcount else None

    def incident_counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM incidents GROUP BY status").fetchall()
        return {s: c for s, c in rows}

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
