"""Risk relative to the user's baseline, incidents with hysteresis, calibration to an incident
budget, the store's incident table, and the offline alerting evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from neighborwatch.evaluation.alerting import evaluate_alerting, malicious_episodes_count
from neighborwatch.evaluation.incidents import IncidentRules, IncidentTracker, run_incidents
from neighborwatch.streaming.alerts import AlertStore, Thresholds, calibrate
from neighborwatch.streaming.risk import Baseline, RiskTracker, risk_series, surprisal

H = 3600 * 1_000_000
DAY = 24 * H


def org(rng, users: int, days: int, per_day: dict[str, int] | None = None):
    """Activities with user-specific normal probabilities; some users far busier than others."""
    rows = []
    for u in range(users):
        name = f"u{u:03d}"
        n = (per_day or {}).get(name, int(rng.integers(20, 200)))
        p_normal = rng.uniform(0.02, 0.3)  # how predictable this user is
        for d in range(days):
            t = d * DAY + np.sort(rng.integers(8 * H, 18 * H, n))
            p = np.clip(rng.normal(p_normal, p_normal / 4, n), 1e-4, 0.99)
            rows += [(name, int(x), 1.0 - float(q)) for x, q in zip(t, p)]
    rows.sort(key=lambda r: r[1])
    users_a = np.array([r[0] for r in rows], dtype=object)
    return users_a, np.array([r[1] for r in rows], np.int64), np.array([r[2] for r in rows])


def test_volume_alone_does_not_raise_risk() -> None:
    rng = np.random.default_rng(0)
    users, times, scores = org(rng, 2, 10, per_day={"u000": 30, "u001": 600})
    base = Baseline.fit(users, scores)
    _, after = risk_series(users, times, scores, 24 * 3600.0, base)
    busy, quiet = after[users == "u001"].mean(), after[users == "u000"].mean()
    old = {}  # the old risk: a decayed sum of raw scores
    for u in ("u000", "u001"):
        m = users == u
        r, last, vals = 0.0, 0, []
        for t, sc in zip(times[m], scores[m]):
            r = r * 0.5 ** ((t - last) / DAY) + sc
            last = t
            vals.append(r)
        old[u] = np.mean(vals)
    old_busy, old_quiet = old["u001"], old["u000"]
    assert old_busy > 5 * old_quiet  # what the issue saw: risk measured how busy a user is
    assert busy < quiet + 1.0 and busy < 1.0


def test_baseline_shrinks_a_sparse_user_to_the_peers() -> None:
    users = np.array(["a"] * 1000 + ["b"] * 2, dtype=object)
    scores = np.r_[np.full(1000, 0.5), [0.999, 0.999]]
    base = Baseline.fit(users, scores, prior=50)
    mean_b, _ = base.of("b")
    assert abs(mean_b - base.peer_mean) < abs(mean_b - float(surprisal(0.999)))
    assert base.of("nobody") == (base.peer_mean, base.peer_std)


def test_a_surprising_run_opens_one_incident_naming_its_drivers() -> None:
    base = Baseline(peer_mean=1.0, peer_std=0.5)
    rt = RiskTracker(24 * 3600.0, base, slack=1.0)
    tr = IncidentTracker(activity=float("inf"), risk=6.0)
    t, alerts = 0, []
    normal = 1 - np.exp(-1.0)  # surprisal 1 = the baseline mean: z = 0
    odd = 1 - np.exp(-3.0)  # z = 4
    for i, sc in enumerate([normal] * 20 + [odd] * 6 + [normal] * 3 + [odd] * 6 + [normal] * 20):
        t += 60 * 1_000_000
        b, a, z = rt.update("u", t, sc)
        assert z == rt.z("u", sc)
        kinds, inc = tr.observe("u", t, f"e{i}", sc, z, b, a)
        alerts += [(k, inc.incident_id) for k in kinds]
    assert [k for k, _ in alerts] == ["risk"]  # hysteresis: the second run does not re-fire
    inc = tr.incidents[alerts[0][1]]
    ids = [a["event_id"] for a in inc.activities]
    assert ids[:2] == ["e20", "e21"]  # the run that lifted risk from 0 is part of it
    assert {"e29", "e34"} <= set(ids) and "e5" not in ids and "e40" not in ids
    assert all(d["z"] > 1 for d in inc.drivers())
    assert inc.peak_risk == pytest.approx(max(a["risk"] for a in inc.activities))


def test_alerts_group_within_the_gap_and_split_after_it() -> None:
    tr = IncidentTracker(activity=0.9, risk=float("inf"), rules=IncidentRules(gap_s=3600.0))
    for i, t in enumerate([0, 10, 50, 200]):  # minutes
        tr.observe("u", t * 60 * 1_000_000, f"e{i}", 0.95, 0.0, 0.0, 0.0)
    incs = list(tr.incidents.values())
    assert [inc.alerts for inc in incs] == [3, 1]
    assert incs[0].end_us == 50 * 60 * 1_000_000


def test_tracker_state_round_trips() -> None:
    rng = np.random.default_rng(1)
    users, times, scores = org(rng, 5, 3)
    base = Baseline.fit(users, scores)
    z = base.z(users, scores)
    before, after = risk_series(users, times, scores, 3600.0, base)
    thr = float(np.quantile(after, 0.99))
    half = len(scores) // 2
    full = IncidentTracker(0.999, thr)
    part = IncidentTracker(0.999, thr)
    for i in range(len(scores)):
        args = (str(users[i]), int(times[i]), str(i), scores[i], z[i], before[i], after[i])
        a = full.observe(*args)[0]
        if i == half:
            part = IncidentTracker.from_json(part.to_json())
        assert part.observe(*args)[0] == a


def test_calibration_holds_the_budget_on_a_later_period() -> None:
    rng = np.random.default_rng(2)
    users, times, scores = org(rng, 40, 30)
    val = times < 20 * DAY
    th = calibrate(scores[val], times[val], users[val], budget_per_day=5.0, half_life_s=8 * 3600.0, days=20)
    assert th.calibration["incidents"] == pytest.approx(th.calibration["target_incidents"], rel=0.25)
    assert Thresholds.from_json(th.to_json()) == th
    u, t, s = users[~val], times[~val], scores[~val]
    base = th.risk_baseline()
    b, a = risk_series(u, t, s, th.half_life_s, base, th.slack)
    kinds, incs = run_incidents(u, t, s, base.z(u, s), b, a, th.activity, th.risk)
    per_100_per_day = len(incs) / 40 * 100 / 10
    assert 2.5 <= per_100_per_day <= 7.5, per_100_per_day
    assert kinds["risk"] > 0 and kinds["activity"] > 0
    with pytest.raises(ValueError):
        calibrate(scores, times, users, budget_per_day=0)


def test_held_out_users_budget_holds_for_the_other_users_later() -> None:
    """Validation = a share of the users over a long period (held-out users), test = the other
    users later: the budget is per 100 validation users per day of their activity, so it holds."""
    rng = np.random.default_rng(4)
    users, times, scores = org(rng, 40, 90)
    held = np.isin(users, [f"u{u:03d}" for u in range(10)])
    val, test = held & (times < 60 * DAY), ~held & (times >= 60 * DAY)
    block = evaluate_alerting(
        {"scores": scores[val], "users": users[val], "times": times[val]},
        {
            "scores": scores[test],
            "users": users[test],
            "times": times[test],
            "labels": np.zeros(test.sum(), dtype=bool),
            "insiders": np.full(test.sum(), "", dtype=object),
            "scenarios": np.zeros(test.sum(), dtype=np.int64),
        },
        budget_per_day=5.0,
    )
    assert block["thresholds"]["validation_days"] == pytest.approx(60, abs=1)
    assert 2.5 <= block["incidents_per_day"] <= 7.5, block["incidents_per_day"]


def test_alerting_evaluation_counts_only_incidents_on_malicious_activity() -> None:
    rng = np.random.default_rng(3)
    users, times, scores = org(rng, 30, 40)
    val, test = times < 20 * DAY, times >= 20 * DAY
    labels = np.zeros(len(scores), dtype=bool)
    # insider u001: a burst of very unlikely activities on day 30; u002 marked malicious on
    # activities that look perfectly normal (no incident can hold them)
    burst = np.flatnonzero((users == "u001") & (times >= 30 * DAY) & (times < 31 * DAY))[:15]
    scores[burst] = 0.99999
    labels[burst] = True
    quiet = np.flatnonzero((users == "u002") & (times >= 25 * DAY))[:3]
    scores[quiet] = 0.0
    labels[quiet] = True
    insiders = np.where(labels, users, "").astype(object)
    scen = labels.astype(np.int64) * np.where(users == "u001", 1, 2)
    block = evaluate_alerting(
        {"scores": scores[val], "users": users[val], "times": times[val]},
        {
            "scores": scores[test],
            "users": users[test],
            "times": times[test],
            "labels": labels[test],
            "insiders": insiders[test],
            "scenarios": scen[test],
        },
        budget_per_day=5.0,
    )
    rows = {r["insider"]: r for r in block["per_insider"]}
    assert rows["u001"]["caught"] and not rows["u002"]["caught"]
    assert block["insiders_caught"] == 0.5
    assert 0 <= rows["u001"]["ttd_hours"] < 2 and rows["u001"]["malicious_before_detection"] < 15
    assert 0 < block["incident_precision"] < 0.5
    assert {
        "budget_per_day",
        "incidents_per_day",
        "incident_precision",
        "insiders_caught",
        "median_ttd_hours",
        "per_scenario",
        "alerts_per_day",
    } <= set(block)
    assert [s["insiders_caught"] for s in block["per_scenario"]] == [1.0, 0.0]
    assert block["malicious_episodes"] >= 2  # one per insider at least
    assert block["precision_ceiling"] == min(1.0, block["malicious_episodes"] / block["incidents"])
    assert sum(block["daily"]["incidents"]) == block["incidents"]


def test_the_scalar_surprisal_equals_the_array_one() -> None:
    from neighborwatch.evaluation.riskmodel import surprisal_one

    scores = [0.0, 0.5, 0.9, 0.999999, 1.0, 1.5, -0.5, float("nan")]
    np.testing.assert_allclose([surprisal_one(s) for s in scores], surprisal(np.array(scores)), equal_nan=True)


def test_malicious_episodes_split_at_the_incident_gap() -> None:
    hour = 3600 * 1_000_000
    who = np.array(["a", "a", "a", "a", "b"], dtype=object)
    times = np.array([0, 1, 13, 30, 5]) * hour  # a: 0-1 h, then 12 h later (same), then 17 h gap
    assert malicious_episodes_count(who, times, gap_s=12 * 3600.0) == 3
    assert malicious_episodes_count(who, times, gap_s=20 * 3600.0) == 2


def test_store_keeps_an_analysts_status_while_the_incident_grows(tmp_path) -> None:
    store = AlertStore(tmp_path / "a.sqlite")
    inc = {
        "incident_id": "u:e1",
        "user": "u",
        "start_us": 0,
        "end_us": 5,
        "peak_risk": 3.0,
        "peak_score": 0.9,
        "kinds": {"risk": 1},
        "alerts": 1,
        "n_activities": 4,
        "drivers": [],
    }
    alert = {
        "alert_id": "risk:e1",
        "kind": "risk",
        "user": "u",
        "time_us": 5,
        "score": 0.9,
        "status": "open",
        "incident": inc,
    }
    assert store.add(alert)
    store.set_incident_status("u:e1", "confirmed", "seen")
    grown = dict(inc, end_us=9, n_activities=6, alerts=2, kinds={"risk": 1, "activity": 1})
    store.add(dict(alert, alert_id="activity:e2", kind="activity", incident=grown))
    got = store.get_incident("u:e1")
    assert got["status"] == "confirmed" and got["note"] == "seen" and got["n_activities"] == 6
    assert store.query_incidents(kind="activity")[0] == 1 and store.query_incidents(status="open")[0] == 0
    assert store.query_incidents(since_us=10)[0] == 0 and store.query_incidents(until_us=0)[0] == 1
