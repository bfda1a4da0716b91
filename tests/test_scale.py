"""The Ray engines give what the local engines give: prepare, score, benchmark; and a live
worker killed mid-replay is restarted by Ray without losing or repeating an event.

One local Ray instance per module (2 CPUs, bound to 127.0.0.1); skipped, with the reason, only
where Ray is not installed or cannot start. The small organisation is generated once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from neighborwatch.cli import app
from neighborwatch.data.chunks import cut_points
from piece_faults import plant_at_cuts
from streaming_fixtures import events_as_dicts, free_port, redis_url, tiny

__all__ = ["redis_url", "tiny"]

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def ray_local():
    try:
        import ray
    except ImportError:
        pytest.skip("ray is not installed: pip install 'neighborwatch[scale]'")
    env = {k: os.environ[k] for k in ("PYTHONPATH", "NEIGHBORWATCH_PROGRESS") if k in os.environ}
    try:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            address="local",
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            runtime_env={"env_vars": env},
        )
    except Exception as e:  # noqa: BLE001  (any start-up failure: say why and skip)
        pytest.skip(f"a local Ray instance cannot start here: {type(e).__name__}: {e}")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def org(tmp_path_factory) -> tuple[Path, Path]:
    """(CERT-format source folder, WORK prepared by the local engine) of a 12-user organisation."""
    root = tmp_path_factory.mktemp("org")
    cli = CliRunner()
    r = cli.invoke(
        app,
        [
            "synth",
            "--out",
            str(root / "src"),
            "--release",
            "r4.2",
            "--users",
            "12",
            "--start",
            "2010-01-02",
            "--end",
            "2010-03-01",
            "--seed",
            "3",
        ],
    )
    assert r.exit_code == 0, r.output
    r = cli.invoke(app, ["prepare", str(root / "src"), "--out", str(root / "work")])
    assert r.exit_code == 0, r.output
    return root / "src", root / "work"


def _same_prepared_work(local: Path, ray_work: Path) -> None:
    for name in ("events.parquet", "labels.parquet"):
        assert pl.read_parquet(ray_work / name).equals(pl.read_parquet(local / name)), name
    for kind in ("session", "day"):
        a, b = np.load(local / "sequences" / kind / "arrays.npz"), np.load(ray_work / "sequences" / kind / "arrays.npz")
        assert a.files == b.files and all(np.array_equal(a[f], b[f]) for f in a.files), kind
        assert pl.read_parquet(ray_work / "sequences" / kind / "meta.parquet").equals(
            pl.read_parquet(local / "sequences" / kind / "meta.parquet")
        ), kind
    assert json.loads((ray_work / "sequences" / "config.json").read_text()) == json.loads(
        (local / "sequences" / "config.json").read_text()
    )
    qa, qb = (pl.read_csv(w / "quarantine.csv", infer_schema=False) for w in (local, ray_work))
    assert qa.equals(qb)
    ray_summary = (ray_work / "summary.json").read_text().replace(str(ray_work), str(local))  # paths in warnings
    assert json.loads((local / "summary.json").read_text()) == json.loads(ray_summary)


def test_prepare_on_ray_equals_local(ray_local, org, tmp_path):
    src, local = org
    r = CliRunner().invoke(app, ["prepare", str(src), "--out", str(tmp_path / "work"), "--engine", "ray"])
    assert r.exit_code == 0, r.output
    _same_prepared_work(local, tmp_path / "work")


PIECE = 4096  # bytes: every log of the trimmed organisation below is cut into several pieces


def test_prepare_on_ray_in_small_pieces_equals_local_with_bad_lines_at_the_cuts(ray_local, org, tmp_path):
    """Reading, canonicalising and sorting in pieces on Ray: the same events (byte for byte),
    labels, sequences, quarantine and summary as the local engine, with malformed lines (a
    non-UTF-8 byte, a wrong column count, binary data, an open quote, a bad date, a blank line)
    on the last line before a cut or the first line after it."""
    src = tmp_path / "src"
    shutil.copytree(org[0], src)
    for name in ("http.csv", "email.csv"):  # fewer pieces for the same coverage
        lines = (src / name).read_bytes().split(b"\n")
        (src / name).write_bytes(b"\n".join(lines[:400]) + b"\n")
    planted = {name: plant_at_cuts(src / name, PIECE) for name in ("logon.csv", "http.csv")}
    cli = CliRunner()
    r = cli.invoke(app, ["prepare", str(src), "--out", str(tmp_path / "local")])
    assert r.exit_code == 0, r.output
    r = cli.invoke(
        app,
        ["prepare", str(src), "--out", str(tmp_path / "ray"), "--engine", "ray", "--chunk-mb", str(PIECE / 2**20)],
    )
    assert r.exit_code == 0, r.output
    for name in ("logon.csv", "device.csv", "file.csv", "email.csv", "http.csv"):
        assert len(cut_points(src / name, PIECE)) >= 3, name
    q = pl.read_csv(tmp_path / "ray" / "quarantine.csv", infer_schema=False)
    for name, lines in planted.items():
        got = dict(
            zip(*q.filter(pl.col("file") == name).select(pl.col("line").cast(pl.Int64), "reason").to_dict().values())
        )
        assert set(got) == set(lines) and all(got[n].startswith(reason) for n, reason in lines.items()), got
    _same_prepared_work(tmp_path / "local", tmp_path / "ray")
    assert (tmp_path / "local" / "events.parquet").read_bytes() == (tmp_path / "ray" / "events.parquet").read_bytes()


def test_ray_stage_equals_local_under_the_own_logs_session_rule(ray_local, org):
    """Idle gaps and a maximum length split sessions too; per user chunk, the same sequences."""
    from neighborwatch.scale.prepare import ray_stage
    from neighborwatch.sequences.build import read_sequence_inputs, tokenize_and_group
    from neighborwatch.sequences.sessionize import SessionRule
    from neighborwatch.sequences.tokenize import WordHourTokenizer
    from neighborwatch.workdir import WorkDir

    events = read_sequence_inputs(WorkDir(org[1]))
    rule, tok = SessionRule(idle_gap_s=20 * 60.0, max_duration_s=3 * 3600.0), WordHourTokenizer()
    want, got = tokenize_and_group(events, tok, rule), ray_stage(chunks=5)(events, tok, rule)
    assert np.array_equal(want[0], got[0])
    for w, g in zip(want[1:], got[1:]):
        assert len(w) > 100 and np.array_equal(w.rows, g.rows) and np.array_equal(w.offsets, g.offsets)


def test_score_on_ray_equals_local_and_the_whole_set(ray_local, org, tmp_path):
    from neighborwatch.models.registry import load_detector
    from neighborwatch.scale.score import read_scores, score_work
    from neighborwatch.sequences.build import load_sequences

    work = org[1]
    r = CliRunner().invoke(app, ["train", str(work), "--out", str(tmp_path / "lan"), "--preset", "fast"])
    assert r.exit_code == 0, r.output
    model = tmp_path / "lan"
    local = score_work(work, model, tmp_path / "local", split="test")
    r = CliRunner().invoke(
        app, ["score", str(work), str(model), "--out", str(tmp_path / "ray"), "--engine", "ray", "--workers", "2"]
    )
    assert r.exit_code == 0, r.output
    remote = json.loads((tmp_path / "ray" / "scores.json").read_text())
    assert remote["rows"] == local["rows"] and set(local["rows"]) == {"activity", "session", "day"}
    assert len(list((tmp_path / "ray" / "activity").glob("user=*"))) == local["users"] > 1
    for level in local["rows"]:
        a, b = read_scores(tmp_path / "local", level), read_scores(tmp_path / "ray", level)
        assert a.drop("score").equals(b.drop("score")), level
        assert np.allclose(a["score"].to_numpy(), b["score"].to_numpy(), atol=1e-6, rtol=0, equal_nan=True)
    # scoring by user chunks equals scoring the whole period at once
    test = load_sequences(work, "session").split("test")
    whole = load_detector(model).score_activities(test)
    acts = read_scores(tmp_path / "local", "activity").sort("event_row")
    order = np.argsort(test.event_rows)
    assert np.array_equal(acts["event_row"].to_numpy(), test.event_rows[order])
    assert np.allclose(acts["score"].to_numpy(), whole[order], atol=1e-6, rtol=0, equal_nan=True)


def _levels(path: Path) -> dict:
    """Every per-seed number of results.json except timings."""
    res = json.loads(path.read_text())
    return {
        lv: {m: [{k: v for k, v in run.items() if not k.endswith("_s")} for run in runs] for m, runs in per.items()}
        for lv, per in res["levels"].items()
    }


def test_benchmark_on_ray_equals_local_and_resumes(ray_local, org, tmp_path, monkeypatch):
    from neighborwatch.scale import benchmark as sb

    work = str(org[1])
    args = ["benchmark", work, "--methods", "markov,iforest,lof", "--fast", "--threads", "1"]
    cli = CliRunner()
    r = cli.invoke(app, [*args, "--seeds", "2", "--out", str(tmp_path / "local")])
    assert r.exit_code == 0, r.output
    submitted: list[tuple[str, int]] = []
    real = sb.ray_runner

    def counting(*a, **kw):
        run = real(*a, **kw)

        def wrapped(pending, *rest):
            submitted.extend((job.method, seed) for job, seed in pending)
            return run(pending, *rest)

        return wrapped

    monkeypatch.setattr(sb, "ray_runner", counting)
    r = cli.invoke(app, [*args, "--seeds", "1", "--out", str(tmp_path / "ray"), "--engine", "ray"])
    assert r.exit_code == 0, r.output
    first = len(submitted)
    r = cli.invoke(app, [*args, "--seeds", "2", "--out", str(tmp_path / "ray"), "--engine", "ray", "--resume"])
    assert r.exit_code == 0, r.output
    per_seed = len(json.loads((tmp_path / "ray" / "config.json").read_text())["jobs"])
    assert first == per_seed > 1 and len(submitted) == 2 * per_seed  # the resumed run ran seed 1 only
    assert {s for _, s in submitted[:first]} == {0} and {s for _, s in submitted[first:]} == {1}
    assert _levels(tmp_path / "ray" / "results.json") == _levels(tmp_path / "local" / "results.json")


def test_unknown_engine_or_missing_ray_is_a_one_line_error(org, tmp_path, monkeypatch):
    args = ["score", str(org[1]), str(tmp_path), "--out", str(tmp_path / "s"), "--engine"]
    r = CliRunner().invoke(app, [*args, "spark"])
    assert r.exit_code == 2 and "unknown engine 'spark'" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["score", str(org[1]), str(tmp_path), "--out", str(org[1])])
    assert r.exit_code == 2 and "holds no scores.json" in r.output  # never deletes a folder it did not write
    assert (org[1] / "events.parquet").exists()
    r = CliRunner().invoke(
        app, ["prepare", str(org[0]), "--out", str(tmp_path / "w0"), "--engine", "ray", "--chunk-mb", "0"]
    )
    assert r.exit_code == 2 and "--chunk-mb must be above 0" in r.output and not (tmp_path / "w0").exists()
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    for command in (args, ["prepare", str(org[0]), "--out", str(tmp_path / "w"), "--engine"]):
        r = CliRunner().invoke(app, [*command, "ray"])
        assert r.exit_code == 2 and "pip install 'neighborwatch[scale]'" in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_killed_live_worker_is_restarted_by_ray_and_loses_nothing(ray_local, tiny, redis_url, tmp_path):
    """Two workers; worker-0's process is SIGKILLed mid-replay and Ray restarts it; then the
    cluster is stopped and one worker takes both partitions over. Every event is scored once."""
    from neighborwatch.scale.live import LiveCluster
    from neighborwatch.service.server import ServeOptions
    from neighborwatch.streaming.sources import RedisPublisher

    work, model = tiny
    events = events_as_dicts(pl.read_parquet(work / "events.parquet"))
    prefix = f"t:ray:{time.time_ns()}"
    state, scores = tmp_path / "state", tmp_path / "scores.jsonl"
    opts = ServeOptions(
        model=model,
        work=work,
        redis=redis_url,
        port=free_port(),
        token="t",
        state=state,
        sinks=[f"scores:{scores}"],
        partitions=2,
        prefix=prefix,
        snapshot_every_s=0.5,
        window_s=1,
        budget_per_day=2,
    )
    files = [tmp_path / "scores.p0.jsonl", tmp_path / "scores.p1.jsonl"]

    def scored() -> list[str]:
        return [json.loads(x)["event_id"] for f in files if f.exists() for x in f.read_text().splitlines() if x]

    def wait(cond, timeout: float) -> None:
        end = time.time() + timeout
        while not cond():
            assert time.time() < end, "timed out waiting for the workers"
            time.sleep(0.2)

    def publish(lo: int, hi: int) -> None:
        for i in range(lo, hi, 200):
            pub.publish(events[i : min(hi, i + 200)])

    pub = RedisPublisher(redis_url, prefix, 2)
    third = len(events) // 3
    cluster = LiveCluster(ray_local, opts, workers=2, token="t", max_restarts=3)
    try:
        before = cluster.info()
        assert [i["partitions"] for i in before] == [[0], [1]]
        publish(0, 2 * third)
        snap = state / "partition-0" / "snapshots" / "CURRENT"
        wait(lambda: snap.exists() and len(scored()) > third // 2, 120)
        time.sleep(0.3)
        os.kill(before[0]["pid"], signal.SIGKILL)  # worker-0's process dies mid-replay
        wait(lambda: len(scored()) >= 2 * third, 180)
        after = cluster.info()
    finally:
        cluster.stop()
    assert after[0]["pid"] != before[0]["pid"] and after[0]["resumed"] == {0: True}
    assert after[1]["pid"] == before[1]["pid"]
    publish(2 * third, len(events))  # while no worker runs; then one worker takes both partitions
    cluster = LiveCluster(ray_local, opts, workers=1, token="t")
    try:
        wait(lambda: len(scored()) >= len(events), 180)
        time.sleep(1.5)  # a duplicate would show up now
        single = cluster.info()[0]
    finally:
        cluster.stop()
    assert single["partitions"] == [0, 1] and single["resumed"] == {0: True, 1: True}
    ids = scored()
    assert len(ids) == len(set(ids)) == len(events) and set(ids) == {e["event_id"] for e in events}


def test_a_different_partition_count_on_the_same_state_is_refused(tmp_path):
    from neighborwatch.scale.cluster import EngineError
    from neighborwatch.scale.live import assignment, plan
    from neighborwatch.service.server import ServeOptions

    assert assignment(5, 2) == [[0, 2, 4], [1, 3]]
    opts = ServeOptions(model=tmp_path, redis="redis://127.0.0.1:1/0", state=tmp_path / "s", partitions=4)
    assert plan(opts, 2) == [[0, 2], [1, 3]] and plan(opts, 4) == [[0], [1], [2], [3]]  # N may change
    with pytest.raises(EngineError, match="4 partition"):
        plan(ServeOptions(model=tmp_path, redis=opts.redis, state=opts.state, partitions=8), 2)
    with pytest.raises(EngineError, match="workers"):
        plan(opts, 5)
