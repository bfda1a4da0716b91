"""Metrics on small arrays whose values were computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neighborwatch.evaluation import metrics as M

# 10 items ranked by score; malicious at ranks 1, 3, 4, 7 (4 positives, 6 negatives)
S = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
Y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0], dtype=bool)


def test_auc_and_auprc_by_hand() -> None:
    # negatives ranked below each positive: 6 + 5 + 5 + 3 = 19 of 4*6 pairs
    assert M.roc_auc(Y, S) == pytest.approx(19 / 24)
    # precision at each positive: 1/1, 2/3, 3/4, 4/7
    assert M.auprc(Y, S) == pytest.approx((1 + 2 / 3 + 3 / 4 + 4 / 7) / 4)


def test_nearest_corner_threshold_by_hand() -> None:
    # candidate points (fpr, tpr): thr .7 -> (1/6, .5) d=.527; thr .6 -> (1/6, .75) d=.300;
    # thr .5 -> (2/6, .75) d=.417; thr .3 -> (3/6, 1) d=.5  => threshold 0.6
    p = M.nearest_corner(Y, S)
    assert p.threshold == pytest.approx(0.6)
    assert p.dr == pytest.approx(0.75)
    assert p.fpr == pytest.approx(1 / 6)


def test_nearest_corner_prefers_lower_fpr_on_equal_distance() -> None:
    s = np.array([0.9, 0.8, 0.6, 0.4, 0.3, 0.2])
    y = np.array([1, 1, 0, 1, 1, 0], dtype=bool)
    # distances: .9:(0,.25)=.75  .8:(0,.5)=.5  .6:(.5,.5)=.707  .4:(.5,.75)  .3:(.5,1)=.5
    p = M.nearest_corner(y, s)
    assert p.threshold == pytest.approx(0.8)
    assert (p.dr, p.fpr) == (0.5, 0.0)


def test_rates_at_threshold_alert_is_score_at_or_above() -> None:
    p = M.rates_at(Y, S, 0.7)  # alerts on .9 .8 .7: positives 2 of 4, negatives 1 of 6
    assert (p.dr, p.fpr) == (0.5, pytest.approx(1 / 6))
    assert M.rates_at(Y, S, 0.71).dr == 0.25


def test_dr_at_budget_by_hand() -> None:
    assert M.dr_at_budget(Y, S, 0.05) == 0.25  # k = ceil(0.5) = 1 item: rank 1 is malicious
    assert M.dr_at_budget(Y, S, 0.15) == 0.25  # k = 2: ranks 1-2, one positive
    assert M.dr_at_budget(Y, S, 0.30) == 0.5  # k = 3: ranks 1-3, two positives
    assert M.dr_at_budget(Y, S, 0.70) == 1.0  # k = 7 reaches rank 7
    assert M.budget_key(0.05) == "dr@5%" and M.budget_key(0.15) == "dr@15%"


def test_dr_at_budget_ties_share_the_slots() -> None:
    # a constant scorer gets exactly chance, whatever the item order
    assert M.dr_at_budget(Y, np.full(10, 0.5), 0.10) == pytest.approx(0.10)
    # one clear top item, then three tied at the cutoff share the one remaining slot
    s = np.array([0.9, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    y = np.array([0, 1, 0, 0, 1, 0, 0, 0, 0, 0], dtype=bool)
    w = M.budget_weights(s, 0.2)  # k = 2
    assert w.tolist() == pytest.approx([1, 1 / 3, 1 / 3, 1 / 3, 0, 0, 0, 0, 0, 0])
    assert M.dr_at_budget(y, s, 0.2) == pytest.approx((1 / 3) / 2)


def test_nan_scores_are_excluded_and_counted() -> None:
    s = np.concatenate([S, [np.nan, np.nan]])
    y = np.concatenate([Y, [True, False]])
    assert M.roc_auc(y, s) == pytest.approx(19 / 24)
    assert M.dr_at_budget(y, s, 0.30) == 0.5  # n = 10 scored items, k = 3
    _, _, dropped, _ = M.drop_unscored(y, s)
    assert dropped == 2


def test_degenerate_inputs_give_nan_and_warn() -> None:
    y = np.zeros(5, dtype=bool)
    s = np.arange(5.0)
    with pytest.warns(M.DegenerateMetricWarning):
        assert math.isnan(M.roc_auc(y, s))
    with pytest.warns(M.DegenerateMetricWarning):
        assert math.isnan(M.auprc(y, s))
    with pytest.warns(M.DegenerateMetricWarning):
        assert math.isnan(M.nearest_corner(y, s).threshold)
    with pytest.warns(M.DegenerateMetricWarning):
        assert math.isnan(M.dr_at_budget(y, s, 0.1))
    with pytest.warns(M.DegenerateMetricWarning):
        assert math.isnan(M.roc_auc(~y, s))  # no normal items either


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="equal length"):
        M.roc_auc(Y[:5], S)
    with pytest.raises(ValueError, match="budget"):
        M.budget_weights(S, 1.5)


def test_per_scenario_detection_by_hand() -> None:
    sc = np.array([1, 0, 2, 1, 0, 0, 2, 0, 0, 0])  # scenario 1: ranks 1, 4; scenario 2: ranks 3, 7
    s = S.copy()
    s[3] = np.nan  # scenario 1's second item is unscored
    rows = {r["scenario"]: r for r in M.per_scenario_detection(Y, s, sc, threshold=0.65)}
    assert rows[1]["positives"] == 2 and rows[1]["unscored"] == 1
    assert rows[1]["detected_at_threshold"] == 1.0  # only the scored item counts (0.9)
    assert rows[2]["detected_at_threshold"] == 0.5  # 0.7 yes, 0.3 no
    # 9 scored items, 15 % -> k = 2: items 0.9 and 0.8 -> scenario 1 found, scenario 2 not
    assert rows[1]["dr@15%"] == 1.0 and rows[2]["dr@15%"] == 0.0
    assert 0 not in rows


def test_time_to_detect_by_hand() -> None:
    minute = 60_000_000
    users = np.array(["A", "A", "A", "A", "B", "B", "C", "C"], dtype=object)
    times = np.array([0, 10, 20, 30, 0, 5, 0, 1]) * minute
    y = np.array([0, 1, 1, 0, 1, 1, 0, 0], dtype=bool)
    ins = np.where(y, users, "")
    # A: first malicious at 10 min; the alert at 0 min predates it and does not count; the
    # next alert is the normal activity at 30 min -> 20 minutes, 2 malicious activities before.
    # B: never alerted.   C: no malicious activity, so not an insider.
    s = np.array([0.9, 0.1, 0.2, 0.8, 0.1, np.nan, 0.99, 0.99])
    rows = {r["insider"]: r for r in M.time_to_detect(ins, users, times, y, s, 0.5, scenarios=np.where(y, 3, 0))}
    assert set(rows) == {"A", "B"}
    a, b = rows["A"], rows["B"]
    assert a["detected"] and a["minutes"] == 20.0 and a["malicious_before_alert"] == 2
    assert a["alert_on_malicious"] is False and a["scenario"] == 3
    assert not b["detected"] and b["minutes"] is None and b["malicious_before_alert"] == 2
    # lower the threshold: A is caught at its first malicious activity
    a2 = {r["insider"]: r for r in M.time_to_detect(ins, users, times, y, s, 0.1)}["A"]
    assert a2["minutes"] == 0.0 and a2["malicious_before_alert"] == 0 and a2["alert_on_malicious"]


# -- statistics (issue 8 §4) -----------------------------------------------------------------
def _clustered(seed: int = 0):
    """200 sessions of 10 items; session-level noise makes items of one session alike."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(200), 10)
    bad = rng.random(200) < 0.15
    y = bad[groups] & (rng.random(2000) < 0.7)
    s = rng.normal(size=200)[groups] + 0.3 * rng.normal(size=2000) + 1.0 * y
    return y, s, groups


def test_bootstrap_auc_ci_is_seeded_and_session_resampling_is_wider() -> None:
    from sklearn.metrics import roc_auc_score

    y, s, groups = _clustered()
    ci = M.bootstrap_auc(y, s, groups, samples=300, seed=1)
    assert ci["auc"] == pytest.approx(roc_auc_score(y, s))
    assert ci["low"] < ci["auc"] < ci["high"] and ci["groups"] == 200
    assert ci == M.bootstrap_auc(y, s, groups, samples=300, seed=1)
    items = M.bootstrap_auc(y, s, None, samples=300, seed=1)
    assert (ci["high"] - ci["low"]) > 1.3 * (items["high"] - items["low"])


def test_paired_bootstrap_separates_a_better_method_from_a_copy() -> None:
    y, s, groups = _clustered(2)
    rng = np.random.default_rng(3)
    worse = s + 3.0 * rng.normal(size=s.size)
    better = M.paired_bootstrap(y, s, worse, groups, samples=300)
    assert better["diff"] > 0 and better["p_value"] < 0.01 and better["low"] > 0
    same = M.paired_bootstrap(y, s, s + 1e-9 * rng.normal(size=s.size), groups, samples=300)
    assert abs(same["diff"]) < 1e-3 and same["p_value"] > 0.05


def test_macro_auc_is_the_mean_of_each_insider_against_all_normal_items() -> None:
    from sklearn.metrics import roc_auc_score

    y, s, groups = _clustered(4)
    ins = np.where(y, np.where(groups % 2 == 0, "I1", "I2"), "")
    out = M.per_insider_auc(y, s, ins)
    expect = [roc_auc_score(y[(ins == n) | ~y], s[(ins == n) | ~y]) for n in ("I1", "I2")]
    assert [r["auc"] for r in out["per_insider"]] == pytest.approx(expect)
    assert out["macro_auc"] == pytest.approx(np.mean(expect))


def test_alert_budget_alerts_on_the_top_k_and_times_detection() -> None:
    users = np.array([f"u{i % 20}" for i in range(100)], dtype=object)
    t = (np.arange(100) * 3_600e6).astype(np.int64)  # one item an hour
    y = np.zeros(100, bool)
    y[[50, 51, 52]] = True  # insider u10..u12 accounts: 50 % 20 = 10
    s = np.linspace(0, 1, 100)
    s[51] = 2.0  # the second malicious item is the top score
    ins = np.where(y, "I", "")
    out = M.alert_budget_detection(ins, users, t, y, s, per_100_users_per_day=5.0, days=2.0)
    assert out["alerts"] == 2 and out["threshold"] == pytest.approx(s[99])
    assert out["insiders"] == 1 and out["caught"] == 1
    assert out["median_minutes"] == 60.0 and out["median_activities"] == 1.0
    none = M.alert_budget_detection(ins, users, t, y, s, per_100_users_per_day=0.1, days=2.0)
    assert none["alerts"] == 0 and none["caught"] == 0
