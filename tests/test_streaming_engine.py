"""Engine behaviour with the bigram stand-in scorer: streaming = batch, ordering window,
duplicates, unknown users, refused events, snapshots, risk and threshold calibration."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neighborwatch.streaming import snapshot
from neighborwatch.streaming.alerts import Thresholds
from neighborwatch.streaming.events import parse_event
from neighborwatch.streaming.risk import RiskTracker, risk_series
from streaming_fixtures import batch_scores_by_event, bigram_engine, events_as_dicts, small_work


@pytest.fixture(scope="module")
def work():
    return small_work()


@pytest.fixture(scope="module")
def events(work):
    return events_as_dicts(pl.read_parquet(work / "events.parquet"))


def run(engine, dicts, chunk=64):
    recs = []
    for i in range(0, len(dicts), chunk):
        recs += engine.submit([parse_event(d) for d in dicts[i : i + chunk]]).records
    return recs + engine.flush().records


def compare(work, seqs, engine, recs):
    batch = batch_scores_by_event(work, seqs, engine.scorer.batch_scores(seqs))
    by_id = {r["event_id"]: r for r in recs}
    diffs = []
    for eid, b in batch.items():
        s = by_id[eid]["score"]
        assert (s is None) == np.isnan(b), (eid, s, b)
        if s is not None:
            diffs.append(abs(s - b))
    return max(diffs), by_id


def test_streaming_equals_batch_and_every_event_has_one_record(work, events):
    engine, seqs = bigram_engine(work)
    recs = run(engine, events)
    assert sorted(r["event_id"] for r in recs) == sorted(e["event_id"] for e in events)
    worst, by_id = compare(work, seqs, engine, recs)
    assert worst < 1e-6
    # events the batch sequences dropped are exactly the collapsed repeats
    in_seqs = set(batch_scores_by_event(work, seqs, np.zeros(seqs.n_activities)))
    assert {r["event_id"] for r in recs if r["status"] == "repeat"} == set(by_id) - in_seqs
    assert sum(r["status"] == "first" for r in recs) == len(seqs)


def test_out_of_order_within_window_gives_the_same_scores(work, events):
    rng = np.random.default_rng(0)
    shuffled = list(events)
    for i in range(0, len(shuffled) - 3, 3):  # local swaps: late by < window seconds of log time
        block = shuffled[i : i + 3]
        rng.shuffle(block)
        shuffled[i : i + 3] = block
    assert shuffled != events
    a, _ = bigram_engine(work, window_s=7200.0, max_hold_s=1e9)
    b, _ = bigram_engine(work)
    ra = {r["event_id"]: r["score"] for r in run(a, shuffled)}
    rb = {r["event_id"]: r["score"] for r in run(b, events)}
    assert ra == rb
    assert a.counters["late"] == 0


def test_late_event_beyond_window_is_scored_and_flagged(work, events):
    engine, _ = bigram_engine(work, window_s=0.0, max_hold_s=1e9)
    late = dict(events[5], event_id="LATE-1")
    run(engine, events[:200])
    recs = engine.submit([parse_event(late)]).records
    assert recs and recs[0]["event_id"] == "LATE-1" and recs[0].get("late") is True
    assert engine.counters["late"] == 1


def test_duplicates_are_ignored(work, events):
    engine, _ = bigram_engine(work)
    first = run(engine, events[:300])
    again = run(engine, events[:300])
    assert len(first) == 300 and again == []
    assert engine.counters["duplicate"] == 300


def test_unknown_user_and_pc_and_refused_events(work):
    engine, _ = bigram_engine(work)
    evs = [
        {
            "event_id": "N1",
            "time": "2010-02-01T09:00:00",
            "user": "NEWBIE",
            "host": "PC-NEW",
            "source": "logon",
            "action": "Logon",
        },
        {
            "event_id": "N2",
            "time": "2010-02-01T09:01:00",
            "user": "NEWBIE",
            "host": "PC-NEW",
            "source": "http",
            "action": "WWW Visit",
        },
        {
            "event_id": "N3",
            "time": "2010-02-01T09:02:00",
            "user": "NEWBIE",
            "host": "PC-NEW",
            "source": "device",
            "action": "Explode",
        },
        {
            "event_id": "N4",
            "time": "2010-02-01T09:03:00",
            "user": "NEWBIE",
            "host": "PC-NEW",
            "source": "email",
            "action": "Send",
        },
    ]
    recs = {r["event_id"]: r for r in run(engine, evs)}
    assert recs["N1"]["status"] == "first" and recs["N2"]["status"] == "scored"
    assert 0.0 <= recs["N2"]["score"] <= 1.0
    assert recs["N3"]["status"] == "rejected" and "Explode" in recs["N3"]["error"]
    assert recs["N4"]["status"] == "scored"  # a refused event does not break its session
    with pytest.raises(ValueError, match="unknown source"):
        parse_event({"event_id": "x", "time": "2010-01-01", "user": "u", "host": "h", "source": "fax", "action": "a"})
    with pytest.raises(ValueError, match="required"):
        parse_event({"event_id": "x", "time": "2010-01-01", "user": "u", "source": "http", "action": "a"})


def test_snapshot_resume_continues_exactly(work, events, tmp_path):
    whole, _ = bigram_engine(work)
    expected = {r["event_id"]: r for r in run(whole, events)}
    a, _ = bigram_engine(work)
    half = len(events) // 2
    got = []
    for i in range(0, half, 50):
        got += a.submit([parse_event(d) for d in events[i : min(half, i + 50)]]).records
    assert a.buffered > 0 or len(a.sessions.open) > 0
    snapshot.save(a, tmp_path)
    b, _ = bigram_engine(work)
    assert snapshot.load(b, tmp_path) == {}
    assert len(b.sessions.open) == len(a.sessions.open) and b.buffered == a.buffered
    got += run(b, events[half - 10 :])  # overlap: redelivered events are duplicates
    assert {r["event_id"] for r in got} == set(expected)
    assert len(got) == len(expected)
    for r in got:
        assert r["score"] == expected[r["event_id"]]["score"], r["event_id"]
        assert r.get("risk") == expected[r["event_id"]].get("risk")


def test_risk_tracker_matches_batch_series():
    rng = np.random.default_rng(1)
    users = rng.choice(["a", "b", "c"], 200)
    times = np.sort(rng.integers(0, 10 * 86400, 200)) * 1_000_000
    scores = rng.random(200)
    scores[::17] = np.nan
    before, after = risk_series(users, times, scores, 3600.0)
    rt = RiskTracker(3600.0)
    for i in range(200):
        b, a, _ = rt.update(str(users[i]), int(times[i]), float(scores[i]))
        assert b == pytest.approx(before[i]) and a == pytest.approx(after[i])


def test_alerts_carry_reasons(work, events):
    engine, _ = bigram_engine(work, thresholds=Thresholds(activity=0.9, risk=3.0, half_life_s=86400.0))
    out_alerts = []
    for i in range(0, len(events), 64):
        out_alerts += engine.submit([parse_event(d) for d in events[i : i + 64]]).alerts
    out_alerts += engine.flush().alerts
    kinds = {a["kind"] for a in out_alerts}
    assert kinds == {"activity", "risk"}
    a = next(x for x in out_alerts if x["kind"] == "activity")
    r = a["reasons"]
    assert r["observed"]["probability"] <= 0.1 + 1e-9
    assert r["expected"] and r["expected"][0]["probability"] >= r["observed"]["probability"]
    assert r["events"][-1]["event_id"] == a["event_id"]
    assert r["risk_trend"] and r["risk_trend"][-1]["risk"] == pytest.approx(a["risk"], abs=1e-5)
    assert len({x["alert_id"] for x in out_alerts}) == len(out_alerts)


def _logons(n: int, users: int = 500) -> list[dict]:
    """`n` Logons, each on a PC never seen before: n distinct (user, PC) sessions."""
    t0 = 1_262_332_800  # 2010-01-01
    return [
        {
            "event_id": f"L{i:07d}",
            "time": t0 + i,
            "user": f"U{i % users:04d}",
            "host": f"PC-{i:07d}",
            "source": "logon",
            "action": "Logon",
        }
        for i in range(n)
    ]


def test_200k_distinct_sessions_keep_state_and_snapshots_bounded(work, tmp_path):
    """200 000 distinct (user, PC) sessions with a cap of 5 000 open: at most 5 000 stay open, the
    rest are evicted (counted), the scorer's slot arrays stay at the cap, and the snapshot stays
    under 8 MB (it held every session ever seen before the cap). The process' RSS grows by less
    than 128 MB over the run (measured: ~77 MB capped, per-user risk and incident rings included)."""

    def rss_mb() -> float:
        with open("/proc/self/status") as fh:
            return next(int(x.split()[1]) for x in fh if x.startswith("VmRSS")) / 1024

    cap, n = 5_000, 200_000
    engine, _ = bigram_engine(work, max_hold_s=0.0, window_s=0.0, max_open_sessions=cap, dedup_ids=50_000)
    events = _logons(n)
    base = rss_mb()
    for i in range(0, n, 8192):
        engine.submit([parse_event(d) for d in events[i : i + 8192]], now=0.0)
    engine.flush()
    grown = rss_mb() - base
    assert len(engine.sessions.open) == cap
    assert engine.counters["evicted_lru"] == n - cap and engine.counters["first"] == n
    assert engine.scorer.open_slots == cap and engine.scorer.state_arrays()["free"].size <= 8192
    d = snapshot.save(engine, tmp_path / "snaps")
    size = sum(f.stat().st_size for f in d.iterdir())
    # per-user risk and incident state is bounded per user (timeline and contributor rings), not per
    # session: it is measured apart, the session part must stay under 8 MB whatever the key count
    state = json.loads((d / "state.json").read_text())
    per_user = sum(len(json.dumps(state[k])) for k in ("risk", "incidents") if k in state)
    assert size - per_user < 8 * 2**20, (size, per_user)
    assert per_user / 500 < 64 * 1024, per_user  # 500 users in this stream
    assert grown < 128, grown  # measured ~77 MB: the per-user risk/incident rings of 500 users included
    # the survivors are the most recently active sessions
    assert min(s.start_us for s in engine.sessions.open.values()) == parse_event(events[n - cap]).time_us


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.fixed_dictionaries(
        {
            "event_id": _json_values,
            "time": _json_values | st.floats() | st.integers(-(10**15), 10**15),
            "user": _json_values,
            "host": _json_values,
            "source": st.sampled_from(["logon", "http", "fax"]) | _json_values,
            "action": _json_values,
        },
        optional={"size": _json_values, "url": _json_values},
    )
)
def test_parse_event_refuses_with_valueerror_or_gives_an_event_the_engine_can_show(obj):
    """Whatever JSON an entry holds, intake either refuses it with a ValueError (→ 4xx, dead letter)
    or returns an event whose time converts and whose text encodes (nothing left to blow up later)."""
    try:
        ev = parse_event(obj)
    except ValueError:
        return
    assert 1970 <= ev.time.year <= 2099
    json.dumps(ev.to_json()).encode("utf-8")
    for text in (ev.event_id, ev.user, ev.host, ev.action):
        text.encode("utf-8")


def test_idle_users_risk_and_incident_state_is_forgotten(work):
    """Per-user risk/incident state follows active users: users idle longer than idle_user_s (event
    time) are dropped and counted, so the snapshot does not grow with every user ever seen."""
    engine, _ = bigram_engine(work, max_hold_s=0.0, window_s=0.0, idle_user_s=3 * 86_400.0)
    t0 = 1_262_332_800  # 2010-01-01
    early = [
        {
            "event_id": f"A{i}",
            "time": t0 + i,
            "user": f"U{i:03d}",
            "host": f"PC-{i:03d}",
            "source": "logon",
            "action": "Logon",
        }
        for i in range(200)
    ]
    late = [
        {
            "event_id": f"B{i}",
            "time": t0 + 10 * 86_400 + i,
            "user": f"U{i:03d}",
            "host": f"PC-{i:03d}",
            "source": "logon",
            "action": "Logon",
        }
        for i in range(5)
    ]
    engine.submit([parse_event(d) for d in early], now=0.0)
    engine.flush()
    assert len(engine.risk.users) == 200
    engine.submit([parse_event(d) for d in late], now=0.0)
    engine.flush()
    assert sorted(engine.risk.users) == [f"U{i:03d}" for i in range(5)]
    assert set(engine.incidents.users) <= set(engine.risk.users)
    assert engine.counters["users_forgotten"] == 195
