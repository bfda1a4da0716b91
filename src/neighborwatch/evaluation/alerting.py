"""What an analyst would have worked: incidents in the test period at the validation's budget.

The live service's rules, run offline on the real-time scores (`streaming.alerts.calibrate` on
the validation period, then `streaming.incidents.run_incidents` on the test period, scored once):
so the numbers here are the ones `serve` gives on the same period.

Definitions (also in docs/alerts.md):
* an incident is **on an insider** (counts for `incident_precision`) when its activities include
  at least one malicious activity;
* an insider is **caught** when some incident's activities include one of that insider's
  malicious activities — an incident on their benign activity, even the same day, does not count;
* **time to detect**: from the insider's first malicious activity in the test period to the
  moment an incident first held one of their malicious activities (its first alert, or the
  malicious activity's own time if it joined an incident already open); plus how many malicious
  activities they performed before that moment.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from neighborwatch.streaming.alerts import calibrate
from neighborwatch.streaming.incidents import run_incidents
from neighborwatch.streaming.risk import risk_series

US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 86400 * US
DEFAULT_BUDGET = 5.0  # incidents per 100 users per day


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def evaluate_alerting(validation: dict[str, np.ndarray], test: dict[str, np.ndarray],
                      budget_per_day: float = DEFAULT_BUDGET, half_life_s: float = 24 * 3600.0,
                      validation_days: float | None = None, test_days: float | None = None) -> dict[str, Any]:
    """The `alerts` block of `evaluate --json`.

    `validation`: scores, users, times (per activity); `test`: the same plus labels, insiders and
    scenarios. Ground truth is read only after every incident is formed.
    """
    th = calibrate(validation["scores"], validation["times"], validation["users"], budget_per_day,
                   half_life_s, days=validation_days, source="validation period")
    scores = np.asarray(test["scores"], dtype=np.float64)
    times = np.asarray(test["times"], dtype=np.int64)
    users = np.asarray(test["users"], dtype=object).astype(str)
    z = th.risk_baseline().z(users, scores)
    before, after = risk_series(users, times, scores, half_life_s, th.risk_baseline(), th.slack)
    kinds, incidents = run_incidents(users, times, scores, z, before, after, th.activity, th.risk,
                                     replace(th.incident_rules(), max_activities=None))
    n_users = max(1, len(np.unique(users)))
    if test_days is None:
        test_days = max(1.0, (times.max() - times.min()) / DAY_US) if times.size else 1.0
    per_100 = 100.0 / n_users / test_days

    # ground truth from here on
    labels = np.asarray(test["labels"], dtype=bool)
    insiders = np.asarray(test["insiders"], dtype=object)
    scenarios = np.asarray(test["scenarios"], dtype=np.int64)
    members = [np.array([int(a["event_id"]) for a in inc.activities], dtype=np.int64) for inc in incidents]
    on_insider = [bool(labels[m].any()) for m in members]
    who_of = np.array([str(x or u) for x, u in zip(insiders, users)], dtype=object)
    detected_at: dict[str, int] = {}
    for inc, m in zip(incidents, members):
        for i in m[labels[m]]:
            who = who_of[i]
            at = max(inc.first_alert_us, int(times[i]))
            detected_at[who] = min(detected_at.get(who, at), at)
    rows = []
    for who in sorted(set(who_of[labels].tolist())):
        own = labels & (who_of == who)
        t_mal = times[own]
        first = int(t_mal.min())
        det = detected_at.get(who)
        rows.append({"insider": who, "scenario": int(scenarios[own].max()), "malicious_activities": int(own.sum()),
                     "caught": det is not None,
                     "ttd_hours": round((det - first) / HOUR_US, 3) if det is not None else None,
                     "malicious_before_detection": int((t_mal < det).sum()) if det is not None else None})
    caught = [r for r in rows if r["caught"]]
    per_scenario = []
    for sc in sorted({r["scenario"] for r in rows}):
        rs = [r for r in rows if r["scenario"] == sc]
        got = [r for r in rs if r["caught"]]
        per_scenario.append({"scenario": sc, "insiders": len(rs), "insiders_caught": len(got) / len(rs),
                             "median_ttd_hours": _median([r["ttd_hours"] for r in got])})
    t0 = int(times.min()) if times.size else 0
    n_days = int(np.ceil(test_days))
    daily = np.zeros(n_days, dtype=np.int64)
    daily_insider = np.zeros(n_days, dtype=np.int64)
    for inc, hit in zip(incidents, on_insider):
        d = min(n_days - 1, max(0, (inc.first_alert_us - t0) // DAY_US))
        daily[d] += 1
        daily_insider[d] += hit
    return {
        "budget_per_day": float(budget_per_day),
        "unit": "per 100 users per day",
        "users": n_users,
        "test_days": round(float(test_days), 3),
        "incidents": len(incidents),
        "incidents_per_day": round(len(incidents) * per_100, 4),
        "alerts_per_day": round(sum(kinds.values()) * per_100, 4),
        "alerts_by_kind": kinds,
        "incident_precision": (sum(on_insider) / len(incidents)) if incidents else None,
        "insiders": len(rows),
        "insiders_caught": (len(caught) / len(rows)) if rows else None,
        "median_ttd_hours": _median([r["ttd_hours"] for r in caught]),
        "median_malicious_before_detection": _median([r["malicious_before_detection"] for r in caught]),
        "per_scenario": per_scenario,
        "per_insider": rows,
        "daily": {"start": int(t0), "incidents": daily.tolist(), "on_insider": daily_insider.tolist()},
        "thresholds": th.to_json() | {"baseline": None},  # the per-user baseline is long; the rest says how
        "definitions": {
            "caught": "an incident's activities include one of the insider's malicious activities",
            "incident_precision": "share of incidents whose activities include a malicious activity",
            "ttd": "first malicious activity -> first incident holding one of the insider's malicious activities",
        },
    }
