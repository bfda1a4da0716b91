"""Alert thresholds calibrated to an analyst's budget, and what an analyst would have worked.

The budget is what a team can work: `budget_per_day` incidents per 100 users per day (default
5). The CALIBRATION WINDOW (`sequences.splits`: every user's activity of the days before the
test cut that the model does not train on — the test period's mix of users the model knows and
held-out users it never saw; the validation split where a WORK has none) fixes everything, the
test period never informs it. No label is read. Its first half gives each user's baseline
(`riskmodel.Baseline`), its second half the thresholds — so they are set, as live, on activity
the baseline has not seen. Half the budget goes to activity alerts,
the rest to risk alerts (rules in `incidents`). `serve` uses `calibrate`; `evaluate` runs the
same rules offline on the test period (`evaluate_alerting`), so its numbers are the ones `serve`
gives on the same period. Both sides are the sequences' activities, not raw events: live, a
collapsed repeat raises no alert and moves no risk (the activity it repeats did), and an activity
is malicious when one of its raw events is.

Definitions (also in docs/alerts.md):
* an incident is **on an insider** (counts for `incident_precision`) when its activities include
  at least one malicious activity;
* an insider is **caught** when some incident's activities include one of that insider's
  malicious activities — an incident on their benign activity, even the same day, does not count;
* **malicious episodes**: an insider's malicious activities in the test period, split wherever two
  consecutive ones are more than the incident gap (12 h) apart. An incident rarely holds more
  than one episode and one episode rarely yields two incidents, so `episodes / incidents` is the
  precision a perfect detector would reach at this budget (`precision_ceiling`): with few
  insiders and a generous budget it is low by construction, whatever the model;
* **time to detect**: from the insider's first malicious activity in the test period to the
  moment an incident first held one of their malicious activities (its first alert, or the
  malicious activity's own time if it joined an incident already open); plus how many malicious
  activities they performed before that moment.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from neighborwatch.evaluation.incidents import IncidentRules, run_incidents
from neighborwatch.evaluation.riskmodel import Baseline, risk_series

US = 1_000_000
ACTIVITY_SHARE = 0.5  # of the incident budget given to activity alerts
HOUR_US = 3600 * US
DAY_US = 86400 * US
DEFAULT_BUDGET = 5.0  # incidents per 100 users per day


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
    def from_json(cls, obj: dict[str, Any]) -> Thresholds:
        obj = dict(obj)
        if obj.get("budget_per_day") is not None and "rules" not in obj:
            raise ValueError(
                "these thresholds were calibrated by an older version (risk was a sum of scores); "
                "delete the thresholds.json file to calibrate again"
            )
        for k in ("activity", "risk"):
            obj[k] = float("inf") if obj.get(k) is None else float(obj[k])
        return cls(**obj)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Thresholds:
        return cls.from_json(json.loads(Path(path).read_text()))

    def risk_baseline(self) -> Baseline:
        return Baseline.from_json(self.baseline)

    def incident_rules(self) -> IncidentRules:
        return IncidentRules(**self.rules)


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
    # halfway to the next lower score: the same alerts here, and a score that equals v[lo] up to
    # float noise (live vs batch, a restored scorer) is not flipped across the threshold
    return float((v[lo] + v[lo + 1]) / 2) if lo + 1 < v.size else float(v[lo])


def calibrate(
    scores: np.ndarray,
    times_us: np.ndarray,
    users: np.ndarray,
    budget_per_day: float,
    half_life_s: float = 24 * 3600.0,
    days: float | None = None,
    source: str = "validation",
    slack: float = 1.0,
    rules: IncidentRules | None = None,
) -> Thresholds:
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
    calibration = {
        "users": n_users,
        "days": round(cal_days, 3),
        "target_incidents": round(target, 2),
        "incidents": len(incidents),
        "alerts": kinds,
        "incidents_per_100_users_per_day": round(len(incidents) / max(n_users, 1) * 100 / cal_days, 3),
        "baseline_days": round(days - cal_days, 3) if cal_days < days else round(days, 3),
    }
    return Thresholds(
        activity=act,
        risk=risk,
        half_life_s=half_life_s,
        budget_per_day=budget_per_day,
        calibrated_on=source,
        validation_days=float(days),
        slack=slack,
        baseline=baseline.to_json(),
        rules=rules.to_json(),
        calibration=calibration,
    )


def malicious_episodes_count(who: np.ndarray, times: np.ndarray, gap_s: float) -> int:
    """Runs of each insider's malicious activities with no gap above `gap_s` (see the module doc)."""
    n = 0
    for w in np.unique(who):
        t = np.sort(times[who == w])
        n += 1 + int((np.diff(t) > gap_s * US).sum())
    return n


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def evaluate_alerting(
    calibration: dict[str, np.ndarray],
    test: dict[str, np.ndarray],
    budget_per_day: float = DEFAULT_BUDGET,
    half_life_s: float = 24 * 3600.0,
    source: str = "calibration",
) -> dict[str, Any]:
    """The `alerts` block of `evaluate --json`.

    `calibration`: scores, users, times (per activity) of the activities `source` names (the
    calibration window); `test`: the same for the test period's activities plus labels, insiders
    and scenarios. Ground truth is read only after every incident is formed.
    """
    th = calibrate(
        calibration["scores"],
        calibration["times"],
        calibration["users"],
        budget_per_day,
        half_life_s,
        source=source,
    )
    scores = np.asarray(test["scores"], dtype=np.float64)
    times = np.asarray(test["times"], dtype=np.int64)
    users = np.asarray(test["users"], dtype=object).astype(str)
    z = th.risk_baseline().z(users, scores)
    before, after = risk_series(users, times, scores, half_life_s, th.risk_baseline(), th.slack)
    kinds, incidents = run_incidents(
        users, times, scores, z, before, after, th.activity, th.risk, replace(th.incident_rules(), max_activities=None)
    )
    n_users = max(1, len(np.unique(users)))
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
        rows.append(
            {
                "insider": who,
                "scenario": int(scenarios[own].max()),
                "malicious_activities": int(own.sum()),
                "caught": det is not None,
                "ttd_hours": round((det - first) / HOUR_US, 3) if det is not None else None,
                "malicious_before_detection": int((t_mal < det).sum()) if det is not None else None,
            }
        )
    caught = [r for r in rows if r["caught"]]
    episodes = malicious_episodes_count(who_of[labels], times[labels], th.incident_rules().gap_s)
    per_scenario = []
    for sc in sorted({r["scenario"] for r in rows}):
        rs = [r for r in rows if r["scenario"] == sc]
        got = [r for r in rs if r["caught"]]
        per_scenario.append(
            {
                "scenario": sc,
                "insiders": len(rs),
                "insiders_caught": len(got) / len(rs),
                "median_ttd_hours": _median([r["ttd_hours"] for r in got]),
            }
        )
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
        "calibrated_on": source,
        "users": n_users,
        "test_days": round(float(test_days), 3),
        "incidents": len(incidents),
        "incidents_per_day": round(len(incidents) * per_100, 4),
        "alerts_per_day": round(sum(kinds.values()) * per_100, 4),
        "alerts_by_kind": kinds,
        "incident_precision": (sum(on_insider) / len(incidents)) if incidents else None,
        "malicious_episodes": episodes,
        "precision_ceiling": min(1.0, episodes / len(incidents)) if incidents else None,
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
            "precision_ceiling": "malicious episodes (runs of an insider's malicious activities with gaps "
            "under the incident gap) / incidents: the precision of a perfect detector at this budget",
            "ttd": "first malicious activity -> first incident holding one of the insider's malicious activities",
        },
    }
