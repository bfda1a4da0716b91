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
from streaming_fixtures import bigram_engine, events_as_dicts, free_port, redis_url, small_work, tiny

from neighborwatch.streaming.runtime import Runtime
from neighborwatch.streaming.sinks import JsonlSink
from neighborwatch.streaming.sources import RedisPublisher, RedisSource, partition_of, stream_names

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
    rt = Runtime(engine, RedisSource(redis_url, prefix, 2), [JsonlSink(tmp_path / "s.jsonl", "scores")], tmp_path,
                 snapshot_every_s=1e9, poll_block_s=0.01)
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


def _serve(model, work, url, prefix, state, scores, port):
    """`neighborwatch serve` as a child process (own process group, so it can be SIGKILLed)."""
    code = "import sys; from neighborwatch.cli import app; sys.argv[0] = 'neighborwatch'; app()"
    cmd = [sys.executable, "-c", code, "serve", str(model), "--work", str(work), "--redis", url, "--port", str(port),
           "--token", "t", "--state", str(state), "--sink", f"scores:{scores}", "--partitions", "2", "--prefix", prefix,
           "--snapshot-every", "0.5", "--window", "1", "--budget", "2"]
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


@pytest.mark.slow
def test_crash_mid_replay_loses_nothing_and_duplicates_nothing(tiny, redis_url, prefix, tmp_path):
    from neighborwatch.models.registry import load_detector
    from neighborwatch.sequences.build import load_sequences

    work, model = tiny
    events = events_as_dicts(pl.read_parquet(work / "events.parquet"))
    pub = RedisPublisher(redis_url, prefix, 2)
    state, scores, port = tmp_path / "state", tmp_path / "scores.jsonl", free_port()
    proc = _serve(model, work, redis_url, prefix, state, scores, port)
    try:
        half = len(events) // 2
        for i in range(0, half, 200):
            pub.publish(events[i : i + 200])
        # kill once a snapshot exists and events were scored after it
        _wait(lambda: (state / "snapshots" / "CURRENT").exists() and len(_lines(scores)) > half // 3, proc, 120, tmp_path / "serve.log")
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        before = len(_lines(scores))
        assert 0 < before < len(events)
        for i in range(half, len(events), 200):  # the replay goes on while the service is down
            pub.publish(events[i : i + 200])
        proc = _serve(model, work, redis_url, prefix, state, scores, port)
        _wait(lambda: len(_lines(scores)) >= len(events), proc, 180, tmp_path / "serve.log")
        time.sleep(1.5)  # anything extra (a duplicate) would show up now
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    recs = _lines(scores)
    ids = [r["event_id"] for r in recs]
    assert len(ids) == len(set(ids)) == len(events)  # every accepted event exactly once
    assert set(ids) == {e["event_id"] for e in events}
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
