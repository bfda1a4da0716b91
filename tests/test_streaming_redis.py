"""Redis Streams transport against a real redis-server: partitions, consumer-group redelivery,
acks only after snapshots, and the crash test (SIGKILL mid-replay, restart, exactly-once output)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import redis

from neighborwatch.streaming.events import parse_event
from neighborwatch.streaming.runtime import Runtime
from neighborwatch.streaming.sinks import JsonlSink
from neighborwatch.streaming.sources import RedisPublisher, RedisSource, partition_of, stream_names
from streaming_fixtures import bigram_engine, events_as_dicts, free_port, redis_url, small_work, tiny

__all__ = ["redis_url", "tiny"]


@pytest.fixture
def prefix(request) -> str:
    return f"t:{request.node.name}"


def test_events_of_a_user_share_one_partition(redis_url, prefix):
    events = events_as_dicts(pl.read_parquet(small_work() / "events.parquet"))[:400]
    RedisPublisher(redis_url, prefix, partitions=3).publish(events)
    r = redis.Redis.from_url(redis_url)
    seen: dict[str, set[str]] = {}
    for s in stream_names(prefix, 3):
        for _, f in r.xrange(s):
            seen.setdefault(json.loads(f[b"event"])["user"], set()).add(s)
    assert all(len(v) == 1 for v in seen.values()) and len({next(iter(v)) for v in seen.values()}) > 1
    assert all(next(iter(seen[u])).endswith(f":{partition_of(u, 3)}") for u in seen)
    with pytest.raises(ValueError):
        stream_names(prefix, 3, only=[3])


def test_unacknowledged_entries_are_redelivered_to_the_same_consumer(redis_url, prefix):
    events = events_as_dicts(pl.read_parquet(small_work() / "events.parquet"))[:50]
    RedisPublisher(redis_url, prefix, 1).publish(events)
    src = RedisSource(redis_url, prefix, 1, consumer="c1")
    got, bad = src.poll(100, 0.1)
    assert len(got) == 50 and not bad
    again = RedisSource(redis_url, prefix, 1, consumer="c1")  # "restart" without ack
    got2, _ = again.poll(100, 0.1)
    assert [e.event_id for e in got2] == [e.event_id for e in got]
    again.ack([e.ack for e in got2])
    third = RedisSource(redis_url, prefix, 1, consumer="c1")
    assert third.poll(100, 0.1) == ([], [])
    r = redis.Redis.from_url(redis_url)
    r.xadd(f"{prefix}:0", {"event": b"{broken"})
    got4, bad4 = third.poll(10, 0.1)
    assert not got4 and len(bad4) == 1 and bad4[0].ack[0] == f"{prefix}:0"


def test_runtime_acknowledges_only_after_a_snapshot(redis_url, prefix, tmp_path):
    events = events_as_dicts(pl.read_parquet(small_work() / "events.parquet"))[:300]
    RedisPublisher(redis_url, prefix, 2).publish(events)
    engine, _ = bigram_engine(small_work(), max_hold_s=0.0)
    rt = Runtime(
        engine,
        RedisSource(redis_url, prefix, 2),
        [JsonlSink(tmp_path / "s.jsonl", "scores")],
        tmp_path,
        snapshot_every_s=1e9,
        poll_block_s=0.01,
    )
    rt.restore()
    while rt.step():
        pass
    r = redis.Redis.from_url(redis_url)
    pending = sum(r.xpending(s, "neighborwatch")["pending"] for s in stream_names(prefix, 2))
    assert pending == 300  # scored, but not yet durable in a snapshot
    rt.snapshot()
    assert sum(r.xpending(s, "neighborwatch")["pending"] for s in stream_names(prefix, 2)) == 0
    lines = (tmp_path / "s.jsonl").read_text().splitlines()
    assert len(lines) == 300


def test_poison_pill_via_redis_is_dead_lettered_and_a_canary_is_still_scored(redis_url, prefix, tmp_path):
    """Entries no valid event can come from (a year-10000 time, broken JSON) are dead-lettered
    with the reason and acknowledged — no crash loop — and the events behind them are scored."""
    events = events_as_dicts(pl.read_parquet(small_work() / "events.parquet"))[:60]
    r = redis.Redis.from_url(redis_url)
    stream = f"{prefix}:0"
    r.xadd(stream, {"event": json.dumps(dict(events[0], event_id="poison-time", time=253402300800))})
    r.xadd(stream, {"event": b'{"event_id": "poison-json", "time": '})
    RedisPublisher(redis_url, prefix, 1).publish(events)  # the canaries
    engine, _ = bigram_engine(small_work(), max_hold_s=0.0)
    rt = Runtime(
        engine,
        RedisSource(redis_url, prefix, 1),
        [JsonlSink(tmp_path / "s.jsonl", "scores")],
        tmp_path,
        snapshot_every_s=1e9,
        poll_block_s=0.01,
    )
    rt.restore()
    while rt.step():
        pass
    rt.drain()
    rt.snapshot()
    dead = [json.loads(x) for x in (tmp_path / "dead-letter.jsonl").read_text().splitlines()]
    assert len(dead) == 2 and {d["stage"] for d in dead} == {"intake"}
    assert "outside the accepted range" in dead[0]["reason"] and "poison-time" in dead[0]["raw"]
    assert "poison-json" in dead[1]["raw"]
    copies = [json.loads(f[b"entry"]) for _, f in r.xrange(f"{prefix}:dead")]
    assert [c["reason"] for c in copies] == [d["reason"] for d in dead]
    assert engine.counters["accepted"] == 60 and engine.counters["scored"] > 0
    assert r.xpending(stream, "neighborwatch")["pending"] == 0  # acknowledged, never redelivered
    assert 'neighborwatch_dead_letters_total{stage="intake"} 2' in rt.metrics.render()


def test_an_entry_delivered_too_often_is_dead_lettered_not_retried(redis_url, prefix, tmp_path):
    """A worker that dies on an entry (SIGKILL, OOM: nothing it could catch) gets it again on each
    restart; after `max_deliveries` the entry goes to dead-letter instead of a crash loop."""
    events = events_as_dicts(pl.read_parquet(small_work() / "events.parquet"))[:2]
    RedisPublisher(redis_url, prefix, 1).publish(events[:1])
    stream = f"{prefix}:0"
    RedisSource(redis_url, prefix, 1, consumer="c1")  # creates the group
    r = redis.Redis.from_url(redis_url)
    r.xreadgroup("neighborwatch", "c1", {stream: ">"})
    for _ in range(3):  # three "crashes" after taking the entry, each restart re-reads it
        assert len(RedisSource(redis_url, prefix, 1, consumer="c1", max_deliveries=5).poll(10, 0.01)[0]) == 1
    src = RedisSource(redis_url, prefix, 1, consumer="c1", max_deliveries=5)
    assert len(src.poll(10, 0.01)[0]) == 1  # delivery 5: still handed out
    src = RedisSource(redis_url, prefix, 1, consumer="c1", max_deliveries=5)
    good, bad = src.poll(10, 0.01)  # delivery 6: dead-lettered
    assert not good and len(bad) == 1 and "delivered 6 times" in bad[0].error
    engine, _ = bigram_engine(small_work(), max_hold_s=0.0)
    rt = Runtime(
        engine,
        RedisSource(redis_url, prefix, 1, consumer="c1", max_deliveries=5),
        [],
        tmp_path,
        snapshot_every_s=1e9,
        poll_block_s=0.01,
    )
    rt.restore()
    RedisPublisher(redis_url, prefix, 1).publish(events[1:])
    while rt.step():
        pass
    rt.snapshot()
    dead = [json.loads(x) for x in (tmp_path / "dead-letter.jsonl").read_text().splitlines()]
    assert len(dead) == 1 and "delivered 7 times" in dead[0]["reason"]
    assert engine.counters["accepted"] == 1 and r.xpending(stream, "neighborwatch")["pending"] == 0


def _serve(model, work, url, prefix, state, scores, port, alerts=None):
    """`neighborwatch serve` as a child process (own process group, so it can be SIGKILLed)."""
    code = "import sys; from neighborwatch.cli import app; sys.argv[0] = 'neighborwatch'; app()"
    cmd = [
        sys.executable,
        "-c",
        code,
        "serve",
        str(model),
        "--work",
        str(work),
        "--redis",
        url,
        "--port",
        str(port),
        "--token",
        "t",
        "--state",
        str(state),
        "--sink",
        f"scores:{scores}",
        "--partitions",
        "2",
        "--prefix",
        prefix,
        "--snapshot-every",
        "0.5",
        "--window",
        "1",
        "--budget",
        "2",
    ]
    if alerts is not None:
        cmd += ["--sink", f"jsonl:{alerts}"]
    env = dict(os.environ, NEIGHBORWATCH_PROGRESS="0")
    log = open(Path(state).parent / "serve.log", "ab")
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _wait(cond, proc, timeout, log):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        if proc.poll() is not None:
            raise AssertionError(f"service exited: {log.read_text()[-3000:]}")
        time.sleep(0.1)
    raise AssertionError("timed out waiting for the service")


def assert_same_rows(got: list[dict], want: list[dict], key: str, tol: float = 1e-5) -> None:
    """The same rows by `key`, every field equal (floats within `tol`, recursively)."""

    def same(a, b) -> bool:
        if isinstance(a, float) or isinstance(b, float):
            return (
                isinstance(a, (int, float))
                and isinstance(b, (int, float))
                and (abs(a - b) <= tol or (a != a and b != b))
            )
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        return a == b

    by_key = {w[key]: w for w in want}
    assert sorted(g[key] for g in got) == sorted(by_key)
    bad = [g[key] for g in got if not same(g, by_key[g[key]])]
    if bad:
        g, w = next(x for x in got if x[key] == bad[0]), by_key[bad[0]]
        fields = {k: (g.get(k), w.get(k)) for k in set(g) | set(w) if not same(g.get(k), w.get(k))}
        raise AssertionError(f"{len(bad)} rows differ, e.g. {bad[0]}: {str(fields)[:1500]}")


def _no_crash_run(model, work, state, events) -> tuple[list[dict], list[dict]]:
    """The same events through the same engine in-process, once, no crash: (score records, alerts)."""
    from neighborwatch.streaming.engine import EngineConfig
    from neighborwatch.streaming.loader import build_engine

    engine = build_engine(
        model,
        work,
        budget_per_day=2,
        half_life_s=24 * 3600.0,
        thresholds=state / "thresholds.json",
        config=EngineConfig(window_s=1, max_hold_s=1.0),
    )
    records, alerts = [], []
    for i in range(0, len(events), 200):
        out = engine.submit([parse_event(d) for d in events[i : i + 200]], now=0.0)
        records += out.records
        alerts += out.alerts
    out = engine.flush()
    return records + out.records, alerts + out.alerts


@pytest.mark.slow
def test_crash_mid_replay_loses_nothing_and_duplicates_nothing(tiny, redis_url, prefix, tmp_path):
    """SIGKILL twice during a replay: the scores and alerts files equal a run without crashes,
    the alerts file equals the alert database, and scores equal the batch scores."""
    from neighborwatch.models.registry import load_detector
    from neighborwatch.sequences.build import load_sequences
    from neighborwatch.streaming.alerts import AlertStore

    work, model = tiny
    events = events_as_dicts(pl.read_parquet(work / "events.parquet"))
    pub = RedisPublisher(redis_url, prefix, 2)
    state, scores, alerts, port = tmp_path / "state", tmp_path / "scores.jsonl", tmp_path / "alerts.jsonl", free_port()
    serve_log = tmp_path / "serve.log"
    proc = _serve(model, work, redis_url, prefix, state, scores, port, alerts)
    thirds = [len(events) // 3, 2 * len(events) // 3, len(events)]
    try:
        sent = 0
        for k, upto in enumerate(thirds[:2]):
            for i in range(sent, upto, 200):
                pub.publish(events[i : min(upto, i + 200)])
            sent = upto
            # kill once a snapshot exists and events were scored after it
            done = len(_lines(scores))
            target = done + (upto - done) // 3  # bound now: the wait's condition runs later
            _wait(
                lambda target=target: (state / "snapshots" / "CURRENT").exists() and len(_lines(scores)) > target,
                proc,
                120,
                serve_log,
            )
            time.sleep(0.3)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            assert 0 < len(_lines(scores)) < len(events)
            if k == 0:  # the replay goes on while the service is down
                for i in range(sent, thirds[1], 200):
                    pub.publish(events[i : min(thirds[1], i + 200)])
                sent = thirds[1]
            proc = _serve(model, work, redis_url, prefix, state, scores, port, alerts)
        for i in range(sent, len(events), 200):
            pub.publish(events[i : i + 200])
        _wait(lambda: len(_lines(scores)) >= len(events), proc, 180, serve_log)
        time.sleep(1.5)  # anything extra (a duplicate) would show up now
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    assert serve_log.read_text().count("resumed from snapshot") == 2
    recs = _lines(scores)
    ids = [r["event_id"] for r in recs]
    assert len(ids) == len(set(ids)) == len(events)  # every accepted event exactly once
    assert set(ids) == {e["event_id"] for e in events}
    # equal to a run without crashes: the same records, the same alerts, each exactly once
    ref_records, ref_alerts = _no_crash_run(model, work, state, events)
    # (scores to float noise: a micro-batch's composition moves the last digits, ~1e-7)
    assert_same_rows(recs, ref_records, "event_id")
    got_alerts = _lines(alerts)
    assert len(ref_alerts) > 0 and len(got_alerts) == len({a["alert_id"] for a in got_alerts})  # no duplicates
    assert_same_rows(got_alerts, ref_alerts, "alert_id")
    total, in_db = AlertStore(state / "alerts.sqlite").query(limit=100_000)
    assert total == len(got_alerts) and {a["alert_id"] for a in in_db} == {a["alert_id"] for a in got_alerts}
    # the sessions were resumed, not restarted: scores equal the batch scores of the model
    det, seqs = load_detector(model), load_sequences(work)
    batch = det.score_activities(seqs)
    row_ids = pl.read_parquet(work / "events.parquet", columns=["event_id"])["event_id"].to_list()
    by_id = {r["event_id"]: r["score"] for r in recs}
    diffs = [abs(by_id[row_ids[r]] - b) for r, b in zip(seqs.event_rows, batch) if not np.isnan(b)]
    assert max(diffs) <= 1e-4


def test_post_events_with_redis_goes_through_the_partitioned_streams(redis_url, prefix, tmp_path):
    from fastapi.testclient import TestClient

    from neighborwatch.service.app import create_app

    events = events_as_dicts(pl.read_parquet(small_work() / "events.parquet"))[:120]
    engine, _ = bigram_engine(small_work(), max_hold_s=0.0)
    rt = Runtime(engine, RedisSource(redis_url, prefix, 2), [], tmp_path, snapshot_every_s=1e9, poll_block_s=0.01)
    pub = RedisPublisher(redis_url, prefix, 2, max_pending=150)
    client = TestClient(create_app(rt, "tok", publisher=pub))
    h = {"Authorization": "Bearer tok"}
    assert client.post("/events", json={"events": events[:100]}, headers=h).status_code == 202
    r = redis.Redis.from_url(redis_url)
    assert sum(r.xlen(s) for s in stream_names(prefix, 2)) == 100
    # the group's backlog (unread + unacknowledged) bounds intake: 100 + 100 > 150
    assert client.post("/events", json={"events": events[:100]}, headers=h).status_code == 429
    while rt.step():
        pass
    assert engine.counters["accepted"] == 100
    rt.snapshot()  # acknowledged now: room again
    assert client.post("/events", json={"events": events[100:120]}, headers=h).status_code == 202
