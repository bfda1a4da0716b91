"""The incremental LAN scorer: streaming = batch (≤ 1e-4) on a generated period, through the
whole engine; windowed attention; snapshots of its state; alerts with neighbour reasons."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from neighborwatch.models.lan.stream_scorer import LANStreamScorer
from neighborwatch.models.registry import load_detector
from neighborwatch.sequences.build import load_sequences
from neighborwatch.streaming import snapshot
from neighborwatch.streaming.alerts import Thresholds
from neighborwatch.streaming.events import parse_event
from neighborwatch.streaming.loader import build_engine
from streaming_fixtures import batch_scores_by_event, events_as_dicts, tiny

__all__ = ["tiny"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def replay(engine, dicts, chunk=97):
    recs, alerts = [], []
    for i in range(0, len(dicts), chunk):
        out = engine.submit([parse_event(d) for d in dicts[i : i + chunk]])
        recs += out.records
        alerts += out.alerts
    out = engine.flush()
    return recs + out.records, alerts + out.alerts


def max_diff(work, seqs, batch, recs):
    by_id = {r["event_id"]: r["score"] for r in recs}
    diffs = []
    for eid, b in batch_scores_by_event(work, seqs, batch).items():
        s = by_id[eid]
        assert (s is None) == np.isnan(b), eid
        if s is not None:
            diffs.append(abs(s - b))
    return max(diffs), len(diffs)


def test_streaming_scores_equal_batch_scores(tiny):
    work, model = tiny
    det = load_detector(model)
    seqs = load_sequences(work)
    test = seqs.split("test")
    start = pl.Series(test.meta["start"]).min()
    events = pl.read_parquet(work / "events.parquet")
    # the generated test period, plus every session already open when it starts
    firsts = events.filter(pl.col("time") >= start)
    engine = build_engine(model, work, detector=det, thresholds=Thresholds())
    recs, _ = replay(engine, events_as_dicts(events))
    worst, n = max_diff(work, seqs, det.score_activities(seqs), recs)
    assert n > 1000 and worst <= 1e-4, worst
    assert firsts.height > 500


def test_random_neighbours_stream_as_batch_and_are_not_cited_as_evidence(tiny):
    work, model = tiny
    det = load_detector(model)
    det.config.neighbours = "random"  # the default preset's choice: random pool prefixes, no search
    seqs = load_sequences(work)
    events = pl.read_parquet(work / "events.parquet")
    engine = build_engine(model, work, detector=det, budget_per_day=20.0)
    recs, alerts = replay(engine, events_as_dicts(events))
    worst, n = max_diff(work, seqs, det.score_activities(seqs), recs)
    assert n > 1000 and worst <= 1e-4, worst
    assert alerts and all(a["reasons"]["neighbours"] == [] for a in alerts)


def test_windowed_attention_streams_with_a_ring_buffer(tiny):
    work, model = tiny
    det = load_detector(model)
    det.config.attention_window = 3
    det.model.pooling.window = 3
    seqs = load_sequences(work).split("test")
    scorer = LANStreamScorer(det, capacity=2)
    assert "ring" in scorer.state and scorer.state["ring"].shape[1] == 3
    out = np.full(seqs.n_activities, np.nan)
    slots = np.array([scorer.allocate() for _ in range(len(seqs))])
    for t in range(int(seqs.lengths.max())):
        alive = np.flatnonzero(seqs.lengths > t)
        pos = seqs.offsets[alive] + t
        if t:
            p = scorer.predict(slots[alive])
            out[pos] = 1 - p.probs[np.arange(len(alive)), seqs.tokens[pos]]
        scorer.advance(slots[alive], seqs.tokens[pos])
    batch = det.score_activities(seqs)
    m = ~np.isnan(batch)
    assert np.array_equal(m, ~np.isnan(out))
    assert np.abs(batch[m] - out[m]).max() <= 1e-4
    full = load_detector(model).score_activities(seqs)
    assert np.abs(full[m] - batch[m]).max() > 1e-6  # the window really changes the scores


def test_snapshot_of_lan_state_resumes_identically(tiny, tmp_path):
    work, model = tiny
    det = load_detector(model)
    events = events_as_dicts(pl.read_parquet(work / "events.parquet"))[:1500]
    whole = build_engine(model, work, detector=det, thresholds=Thresholds())
    expected = {r["event_id"]: r["score"] for r in replay(whole, events)[0]}
    a = build_engine(model, work, detector=det, thresholds=Thresholds())
    got = {}
    for i in range(0, 800, 100):
        got.update({r["event_id"]: r["score"] for r in a.submit([parse_event(d) for d in events[i : i + 100]]).records})
    snapshot.save(a, tmp_path)
    b = build_engine(model, work, detector=det, thresholds=Thresholds())
    snapshot.load(b, tmp_path)
    got.update({r["event_id"]: r["score"] for r in replay(b, events[800:])[0]})
    assert got.keys() == expected.keys()
    # equal up to float noise: the head's batched products depend on how events group into rounds
    bad = {k: (got[k], expected[k]) for k in got if abs(got[k] - expected[k]) > 1e-6}
    assert not bad, (len(bad), list(bad.items())[:5])


def test_lan_alerts_name_neighbours_and_expected_activities(tiny):
    work, model = tiny
    engine = build_engine(model, work, budget_per_day=20.0)
    assert np.isfinite(engine.thresholds.activity) and np.isfinite(engine.thresholds.risk)
    events = pl.read_parquet(work / "events.parquet")
    _, alerts = replay(engine, events_as_dicts(events))
    assert alerts
    a = next(x for x in alerts if x["kind"] == "activity")
    r = a["reasons"]
    assert len(r["expected"]) == 5 and r["expected"][0]["probability"] >= r["observed"]["probability"]
    assert r["neighbours"] and {"pool_id", "similarity", "user", "time"} <= set(r["neighbours"][0])
    assert -1.0 <= r["neighbours"][0]["similarity"] <= 1.0
    assert r["events"][-1]["event_id"] == a["event_id"]
