"""Detection metrics as pure functions of (labels, scores) arrays.

Conventions shared by every function here:

* Higher score = more anomalous; an item raises an alert iff ``score >= threshold``.
* NaN scores mark items a detector cannot score (the protocol's items never include a
  start-of-session position, so for next-activity models none should remain).
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
from typing import Any

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


def drop_unscored(
    labels: np.ndarray, scores: np.ndarray, *others: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int, tuple[np.ndarray, ...]]:
    """Remove NaN-scored items; returns (labels, scores, number removed, filtered `others`)."""
    y, s = _check(labels, scores)
    keep = ~np.isnan(s)
    return y[keep], s[keep], int((~keep).sum()), tuple(np.asarray(o)[keep] for o in others)


def _degenerate(y: np.ndarray, what: str) -> bool:
    pos = int(y.sum())
    if pos == 0 or pos == y.size:
        kind = "no malicious" if pos == 0 else "no normal"
        warnings.warn(f"{what} is undefined: {kind} items among {y.size}", DegenerateMetricWarning, stacklevel=3)
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


def per_scenario_detection(
    labels: np.ndarray, scores: np.ndarray, scenarios: np.ndarray, threshold: float, budgets: Sequence[float] = BUDGETS
) -> list[dict]:
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


def time_to_detect(
    insiders: np.ndarray,
    users: np.ndarray,
    times_us: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    scenarios: np.ndarray | None = None,
) -> list[dict]:
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
        alert_by_user = {n: alert_idx[order[bounds[i] : bounds[i + 1]]] for i, n in enumerate(names)}
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
            row.update(
                detected=False,
                minutes=None,
                malicious_before_alert=int(mine.size),
                first_alert=None,
                alert_on_malicious=None,
            )
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


# -- uncertainty and analyst figures (issue 8 §4) ---------------------------------------------
BOOTSTRAP_SAMPLES = 200
ALERTS_PER_100_USERS_PER_DAY = 5.0


def _ranks(scores: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense rank of every score (ties share one), and the number of distinct scores."""
    uniq, inverse = np.unique(scores, return_inverse=True)
    return inverse.astype(np.int64), len(uniq)


def _weighted_auc(rank: np.ndarray, n_ranks: int, y: np.ndarray, w: np.ndarray) -> float:
    """ROC-AUC with item weights (ties count one half): equals `roc_auc` with w = 1."""
    pos = np.bincount(rank, weights=w * y, minlength=n_ranks)
    neg = np.bincount(rank, weights=w * ~y, minlength=n_ranks)
    den = pos.sum() * neg.sum()
    if den <= 0:
        return math.nan
    below = np.cumsum(neg) - neg
    return float((pos * (below + 0.5 * neg)).sum() / den)


def _group_index(groups: np.ndarray | None, n: int) -> tuple[np.ndarray, int]:
    if groups is None:
        return np.arange(n, dtype=np.int64), n
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    return inverse.astype(np.int64), int(inverse.max()) + 1 if n else 0


def _boot_weights(rng: np.random.Generator, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Item weights of one bootstrap replicate: each group drawn with replacement n_groups times."""
    counts = np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups).astype(np.float64)
    return counts[group]


def bootstrap_auc(
    labels: np.ndarray,
    scores: np.ndarray,
    groups: np.ndarray | None = None,
    samples: int = BOOTSTRAP_SAMPLES,
    level: float = 0.95,
    seed: int = 0,
) -> dict:
    """ROC-AUC with a percentile bootstrap CI that resamples whole `groups` (e.g. sessions).

    Activities of one session are not independent, so resampling single activities would make
    the interval too narrow; a session bootstrap draws sessions with replacement and keeps all
    their items. NaN scores are excluded first. Returns {"auc", "low", "high", "level",
    "samples", "groups", "seed"}; NaN bounds when the data is degenerate.
    """
    y, s, _, (g,) = drop_unscored(labels, scores, np.zeros(len(labels)) if groups is None else groups)
    group, n_groups = _group_index(None if groups is None else g, y.size)
    rank, n_ranks = _ranks(s)
    point = _weighted_auc(rank, n_ranks, y, np.ones(y.size))
    rng = np.random.default_rng(seed)
    reps = np.array(
        [
            _weighted_auc(rank, n_ranks, y, _boot_weights(rng, group, n_groups))
            for _ in range(samples if n_groups and not math.isnan(point) else 0)
        ]
    )
    reps = reps[~np.isnan(reps)]
    a = (1 - level) / 2
    low, high = (float(np.quantile(reps, a)), float(np.quantile(reps, 1 - a))) if reps.size else (math.nan, math.nan)
    return {
        "auc": point,
        "low": low,
        "high": high,
        "level": level,
        "samples": int(reps.size),
        "groups": int(n_groups),
        "seed": seed,
    }


def paired_bootstrap(
    labels: np.ndarray,
    scores: np.ndarray,
    reference: np.ndarray,
    groups: np.ndarray | None = None,
    samples: int = BOOTSTRAP_SAMPLES,
    level: float = 0.95,
    seed: int = 0,
) -> dict:
    """AUC(method) − AUC(reference) on the SAME items, with a paired group bootstrap.

    Both score arrays are evaluated on each replicate's same resampled groups; the two-sided
    p-value is twice the smaller share of replicates on either side of 0 (at least 1/(samples+1)),
    i.e. how often chance alone reverses the sign of the difference. Items either method leaves
    unscored (NaN) are dropped from both.
    """
    y, s = _check(labels, scores)
    r = np.asarray(reference, dtype=np.float64)
    if r.shape != s.shape:
        raise ValueError("scores and reference must score the same items")
    keep = ~np.isnan(s) & ~np.isnan(r)
    y, s, r = y[keep], s[keep], r[keep]
    group, n_groups = _group_index(None if groups is None else np.asarray(groups)[keep], y.size)
    rs, ns = _ranks(s)
    rr, nr = _ranks(r)
    ones = np.ones(y.size)
    diff = _weighted_auc(rs, ns, y, ones) - _weighted_auc(rr, nr, y, ones)
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(samples if n_groups and not math.isnan(diff) else 0):
        w = _boot_weights(rng, group, n_groups)
        reps.append(_weighted_auc(rs, ns, y, w) - _weighted_auc(rr, nr, y, w))
    d = np.asarray(reps)
    d = d[~np.isnan(d)]
    if not d.size:
        return {"diff": diff, "low": math.nan, "high": math.nan, "p_value": math.nan, "samples": 0, "seed": seed}
    p = min(1.0, max(2 * min((d <= 0).mean(), (d >= 0).mean()), 1 / (d.size + 1)))
    a = (1 - level) / 2
    return {
        "diff": float(diff),
        "low": float(np.quantile(d, a)),
        "high": float(np.quantile(d, 1 - a)),
        "p_value": float(p),
        "samples": int(d.size),
        "seed": seed,
    }


def per_insider_auc(
    labels: np.ndarray, scores: np.ndarray, insiders: np.ndarray, scenarios: np.ndarray | None = None
) -> dict:
    """Macro AUC: per insider, the AUC of its malicious items against ALL normal items; the mean
    over insiders. An insider with thousands of events no longer outweighs one with three."""
    y, s, _, (ins, sc) = drop_unscored(
        labels,
        scores,
        np.asarray(insiders, dtype=object),
        np.zeros(len(labels), np.int64) if scenarios is None else scenarios,
    )
    neg = ~y
    rows: list[dict[str, Any]] = []
    names = sorted({str(v) for v in ins[y] if v not in (None, "")})
    if neg.any():
        rank, n_ranks = _ranks(s)
        for name in names:
            mine = y & (ins == name)
            w = (mine | neg).astype(np.float64)
            scen = np.unique(sc[mine])
            rows.append(
                {
                    "insider": name,
                    "scenario": int(scen.max()) if scen.size else None,
                    "positives": int(mine.sum()),
                    "auc": _weighted_auc(rank, n_ranks, mine, w),
                }
            )
    vals = [r["auc"] for r in rows if not math.isnan(r["auc"])]
    return {"macro_auc": float(np.mean(vals)) if vals else math.nan, "insiders": len(rows), "per_insider": rows}


def alert_budget_detection(
    insiders: np.ndarray,
    users: np.ndarray,
    times_us: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    scenarios: np.ndarray | None = None,
    per_100_users_per_day: float = ALERTS_PER_100_USERS_PER_DAY,
    days: float | None = None,
) -> dict:
    """Insiders caught and time-to-detect when an analyst can look at a fixed number of alerts.

    Budget: `per_100_users_per_day` alerts per 100 accounts per day of the period (`days`, by
    default the span of `times_us`), i.e. the K = round(rate × users/100 × days) highest-scored
    items raise alerts (the threshold is the K-th highest score: a volume rule, not a choice
    made with labels). Then `time_to_detect` at that threshold; per scenario: insiders, caught,
    and the median minutes and malicious activities before the first alert of the caught ones.
    """
    y, s = _check(labels, scores)
    t = np.asarray(times_us, dtype=np.int64)
    n_users = len({str(u) for u in np.asarray(users, dtype=object)})
    if days is None:
        days = max(1.0, float(t.max() - t.min()) / 86_400e6) if t.size else 1.0
    k = int(round(per_100_users_per_day * n_users / 100.0 * days))
    ok = np.sort(s[~np.isnan(s)])[::-1]
    threshold = float(ok[min(k, ok.size) - 1]) if k >= 1 and ok.size else math.inf
    rows = (
        time_to_detect(insiders, users, t, y, s, threshold, scenarios)
        if not math.isinf(threshold)
        else time_to_detect(insiders, users, t, y, np.full(s.shape, np.nan), math.nan, scenarios)
    )

    def summary(part: list[dict]) -> dict:
        caught = [r for r in part if r["detected"]]
        return {
            "insiders": len(part),
            "caught": len(caught),
            "median_minutes": float(np.median([r["minutes"] for r in caught])) if caught else math.nan,
            "median_activities": float(np.median([r["malicious_before_alert"] for r in caught]))
            if caught
            else math.nan,
        }

    per_scenario = []
    for scen in sorted({r["scenario"] for r in rows}, key=lambda v: (v is None, v or 0)):
        per_scenario.append({"scenario": scen, **summary([r for r in rows if r["scenario"] == scen])})
    return {
        "alerts_per_100_users_per_day": per_100_users_per_day,
        "users": n_users,
        "days": float(days),
        "alerts": k,
        "threshold": threshold,
        **summary(rows),
        "per_scenario": per_scenario,
    }
