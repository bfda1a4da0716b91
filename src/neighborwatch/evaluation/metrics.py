"""Detection metrics as pure functions of (labels, scores) arrays.

Conventions shared by every function here:

* Higher score = more anomalous; an item raises an alert iff ``score >= threshold``.
* NaN scores mark positions a detector cannot score (e.g. the first activity of a session).
  They are dropped before any metric (`drop_unscored` returns how many), so they count neither
  as detected nor as false alarms.
* Degenerate inputs (no positives or no negatives) give NaN with a `DegenerateMetricWarning`,
  never an exception: a split without insiders is a fact to report, not a crash.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

BUDGETS: tuple[float, ...] = (0.05, 0.10, 0.15)


class DegenerateMetricWarning(UserWarning):
    """A metric is undefined for this input (e.g. no malicious item in the split)."""


def budget_key(fraction: float) -> str:
    """Column name of DR at an investigation budget, e.g. 0.05 -> 'dr@5%'."""
    return f"dr@{fraction * 100:g}%"


def _check(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).astype(bool, copy=False)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and scores {s.shape} must be 1-d arrays of equal length")
    return y, s


def drop_unscored(labels: np.ndarray, scores: np.ndarray, *others: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, int, tuple[np.ndarray, ...]]:
    """Remove NaN-scored items; returns (labels, scores, number removed, filtered `others`)."""
    y, s = _check(labels, scores)
    keep = ~np.isnan(s)
    return y[keep], s[keep], int((~keep).sum()), tuple(np.asarray(o)[keep] for o in others)


def _degenerate(y: np.ndarray, what: str) -> bool:
    pos = int(y.sum())
    if pos == 0 or pos == y.size:
        kind = "no malicious" if pos == 0 else "no normal"
        warnings.warn(f"{what} is undefined: {kind} items among {y.size}", DegenerateMetricWarning,
                      stacklevel=3)
        return True
    return False


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half), NaN-scored items excluded."""
    y, s, _, _ = drop_unscored(labels, scores)
    return math.nan if _degenerate(y, "ROC-AUC") else float(roc_auc_score(y, s))


def auprc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision (sklearn's step integral)."""
    y, s, _, _ = drop_unscored(labels, scores)
    return math.nan if _degenerate(y, "AUPRC") else float(average_precision_score(y, s))


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float  # alert iff score >= threshold
    dr: float  # detection rate = TPR = recall of malicious items
    fpr: float

    def as_dict(self) -> dict[str, float]:
        return {"threshold": self.threshold, "dr": self.dr, "fpr": self.fpr}


def rates_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> OperatingPoint:
    """DR and FPR when alerting on ``score >= threshold``; a side without items gives NaN."""
    y, s, _, _ = drop_unscored(labels, scores)
    alert = s >= threshold
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0:
        warnings.warn("DR is undefined: no malicious items", DegenerateMetricWarning, stacklevel=2)
    if neg == 0:
        warnings.warn("FPR is undefined: no normal items", DegenerateMetricWarning, stacklevel=2)
    dr = float((alert & y).sum() / pos) if pos else math.nan
    fpr = float((alert & ~y).sum() / neg) if neg else math.nan
    return OperatingPoint(float(threshold), dr, fpr)


def nearest_corner(labels: np.ndarray, scores: np.ndarray) -> OperatingPoint:
    """The ROC point closest (Euclidean) to (FPR 0, TPR 1), with the threshold that yields it.

    Every distinct score is a candidate threshold. Among equally close points the one with the
    lowest FPR (the highest threshold) wins, so fewer analysts' hours go to false alarms.
    Degenerate input gives an all-NaN point.
    """
    y, s, _, _ = drop_unscored(labels, scores)
    if _degenerate(y, "the ROC point nearest (0,1)"):
        return OperatingPoint(math.nan, math.nan, math.nan)
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    dist = np.hypot(fpr, 1.0 - tpr)
    i = int(np.flatnonzero(dist <= dist.min() + 1e-12)[0])  # fpr ascends: first = lowest FPR
    return OperatingPoint(float(thr[i]), float(tpr[i]), float(fpr[i]))


def budget_weights(scores: np.ndarray, fraction: float) -> np.ndarray:
    """Per item: how much of it falls inside the top `fraction` of items ranked by score.

    The budget is ``k = ceil(fraction * n)`` items (at least the share an analyst promised to
    investigate). Items strictly above the k-th highest score weigh 1, items below weigh 0, and
    the items tied at that score share the remaining slots equally, i.e. the expected outcome of
    breaking ties at random, so a constant scorer earns exactly chance and never an ordering
    artefact. NaN scores weigh 0 and do not count in n.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"budget fraction must lie in [0, 1], got {fraction}")
    s = np.asarray(scores, dtype=np.float64)
    w = np.zeros(s.shape, dtype=np.float64)
    ok = ~np.isnan(s)
    n = int(ok.sum())
    k = min(n, math.ceil(fraction * n - 1e-9))
    if k == 0:
        return w
    v = s[ok]
    cutoff = np.partition(v, n - k)[n - k]  # k-th highest score
    above = v > cutoff
    tied = v == cutoff
    wv = above.astype(np.float64)
    wv[tied] = (k - int(above.sum())) / int(tied.sum())
    w[ok] = wv
    return w


def dr_at_budget(labels: np.ndarray, scores: np.ndarray, fraction: float) -> float:
    """Share of all malicious (scored) items found in the top `fraction` of items by score."""
    y, s, _, _ = drop_unscored(labels, scores)
    if not y.any():
        warnings.warn("DR@budget is undefined: no malicious items", DegenerateMetricWarning, stacklevel=2)
        return math.nan
    return float(budget_weights(s, fraction)[y].sum() / y.sum())


def per_scenario_detection(labels: np.ndarray, scores: np.ndarray, scenarios: np.ndarray,
                           threshold: float, budgets: Sequence[float] = BUDGETS) -> list[dict]:
    """Per scenario: how many of its malicious items exist, are scored, and are detected.

    `scenarios` holds the scenario number of each item (0 = none); only malicious items count.
    Detection shares are over the scenario's scored items: at the threshold (score >= threshold)
    and within each investigation budget (ranked among ALL scored items, ties as in
    `budget_weights`).
    """
    y, s = _check(labels, scores)
    sc = np.asarray(scenarios)
    if sc.shape != y.shape:
        raise ValueError("scenarios must have one entry per item")
    ok = ~np.isnan(s)
    weights = {b: budget_weights(s, b) for b in budgets}
    alert = np.zeros_like(y)
    alert[ok] = s[ok] >= threshold if not math.isnan(threshold) else False
    rows = []
    for scen in sorted(int(x) for x in np.unique(sc[y])):
        mine = y & (sc == scen)
        scored = mine & ok
        m = int(scored.sum())
        row: dict = {"scenario": scen, "positives": int(mine.sum()), "unscored": int((mine & ~ok).sum())}
        row["detected_at_threshold"] = float(alert[scored].sum() / m) if m else math.nan
        for b in budgets:
            row[budget_key(b)] = float(weights[b][scored].sum() / m) if m else math.nan
        rows.append(row)
    return rows


def time_to_detect(insiders: np.ndarray, users: np.ndarray, times_us: np.ndarray,
                   labels: np.ndarray, scores: np.ndarray, threshold: float,
                   scenarios: np.ndarray | None = None) -> list[dict]:
    """Per insider: how long, and after how much damage, the first alert comes.

    `insiders` names the insider of each malicious activity ('' or None elsewhere); `users` is
    the account each activity belongs to; `times_us` are epoch microseconds. For insider I with
    first malicious activity at t0 (in the arrays given, e.g. the test period), the first alert is
    the earliest activity with score >= threshold among the activities of I's accounts at or
    after t0, whether that activity is malicious or not (an alert on I at all is what brings an
    analyst to I). Reported: minutes from t0 to that alert; the number of I's malicious
    activities strictly before the alert (0 = caught at the first one); whether the alerting
    activity is itself malicious. Insiders never alerted on get ``detected = False`` and
    ``minutes = None``. NaN-scored activities never alert.
    """
    y, s = _check(labels, scores)
    ins = np.array(["" if v is None else str(v) for v in np.asarray(insiders, dtype=object)], dtype=object)
    usr = np.asarray(users, dtype=object)
    t = np.asarray(times_us, dtype=np.int64)
    if not (ins.shape == usr.shape == t.shape == y.shape):
        raise ValueError("insiders, users, times, labels and scores must have equal length")
    sc = np.zeros(y.shape, dtype=np.int64) if scenarios is None else np.asarray(scenarios, dtype=np.int64)
    alert = np.zeros_like(y) if math.isnan(threshold) else np.nan_to_num(s, nan=-np.inf) >= threshold
    # index the alerts by account once (millions of activities, tens of insiders)
    alert_idx = np.flatnonzero(alert)
    alert_by_user: dict[object, np.ndarray] = {}
    if alert_idx.size:
        names, inverse = np.unique(usr[alert_idx].astype(str), return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(names) + 1))
        alert_by_user = {n: alert_idx[order[bounds[i]:bounds[i + 1]]] for i, n in enumerate(names)}
    mal_idx = np.flatnonzero(y)
    mal_ins = ins[mal_idx]
    out = []
    for name in sorted(set(mal_ins) - {""}):
        mine = mal_idx[mal_ins == name]  # this insider's malicious activities
        accounts = sorted({str(a) for a in usr[mine]})
        t0 = int(t[mine].min())
        hits = np.concatenate([alert_by_user.get(a, np.zeros(0, np.int64)) for a in accounts])
        hits = hits[t[hits] >= t0]
        scen = np.unique(sc[mine])
        row: dict = {
            "insider": name,
            "users": accounts,
            "scenario": int(scen[scen > 0][0]) if (scen > 0).any() else None,
            "malicious_activities": int(mine.size),
            "first_malicious": _iso(t0),
        }
        if hits.size == 0:
            row.update(detected=False, minutes=None, malicious_before_alert=int(mine.size),
                       first_alert=None, alert_on_malicious=None)
        else:
            first = hits[np.argmin(t[hits])]
            row.update(
                detected=True,
                minutes=float((t[first] - t0) / 60e6),
                malicious_before_alert=int((t[mine] < t[first]).sum()),
                first_alert=_iso(int(t[first])),
                alert_on_malicious=bool(y[first]),
            )
        out.append(row)
    return out


def _iso(us: int) -> str:
    return str(np.datetime64(us, "us").astype("datetime64[s]")).replace("T", " ")
