"""Alerts with reasons, and their store (alerts and incidents, with analysts' statuses).

The alert rules and their calibration to an analyst's budget (`Thresholds`, `calibrate`) live
in `evaluation.alerting` and `evaluation.incidents`, shared with the offline evaluation.

Every alert carries the reasons an analyst checks it with: the observed activity and its
probability vs the model's most expected next activities, the nearest pool sessions the model
compared the session with, the user's risk trend, the raw events that triggered it, its
incident (every contributing activity, start, end, peak, the activities that drove it) and, when
the model folder has a familiarity profile, whether the activity is a first for the user and how
many of the user's peers ever did it (`sequences.familiarity`, docs/alerts.md).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import numpy as np

from neighborwatch.evaluation.alerting import Thresholds, calibrate

__all__ = ["AlertStore", "Thresholds", "calibrate", "crossings", "expected_reasons", "token_reason"]

US = 1_000_000
STATUSES = ("open", "confirmed", "dismissed")
KINDS = ("activity", "risk")


def crossings(before: np.ndarray, after: np.ndarray, threshold: float) -> int:
    return int(np.count_nonzero((before < threshold) & (after >= threshold)))


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
                (
                    alert["alert_id"],
                    alert["kind"],
                    alert["user"],
                    alert["time_us"],
                    alert["score"],
                    alert["status"],
                    json.dumps(alert),
                ),
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
            (
                inc["incident_id"],
                inc["user"],
                inc["start_us"],
                inc["end_us"],
                inc["peak_risk"],
                inc["peak_score"],
                ",".join(sorted(inc["kinds"])),
                inc["alerts"],
                inc["n_activities"],
                json.dumps(inc),
            ),
        )

    def query_incidents(
        self,
        status: str | None = None,
        user: str | None = None,
        kind: str | None = None,
        since_us: int | None = None,
        until_us: int | None = None,
        offset: int = 0,
        limit: int = 50,
        order: str = "peak",
    ) -> tuple[int, list[dict[str, Any]]]:
        """(total matching, one page): riskiest first (`peak`) or newest first (`recent`)."""
        where, args = [], []
        for clause, val in (("status=?", status), ("user=?", user), ("end_us>=?", since_us), ("start_us<=?", until_us)):
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
            rows = self._db.execute(
                f"SELECT body, status, note FROM incidents{sql} ORDER BY {by} LIMIT ? OFFSET ?", [*args, limit, offset]
            ).fetchall()
        return total, [dict(json.loads(b), status=st, note=note) for b, st, note in rows]

    def get_incident(self, incident_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body, status, note FROM incidents WHERE incident_id=?", (incident_id,)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]), status=row[1], note=row[2])

    def set_incident_status(self, incident_id: str, status: str, note: str | None = None) -> dict[str, Any] | None:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        with self._lock:
            cur = self._db.execute(
                "UPDATE incidents SET status=?, note=COALESCE(?, note) WHERE incident_id=?", (status, note, incident_id)
            )
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
            self._db.execute(
                "UPDATE alerts SET status=?, body=? WHERE alert_id=?", (status, json.dumps(body), alert_id)
            )
            self._db.commit()
        return body

    def query(
        self,
        status: str | None = None,
        user: str | None = None,
        kind: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[int, list[dict[str, Any]]]:
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
