"""`neighborwatch benchmark` end to end on a tiny hand-built WORK folder.

The WORK folder is assembled from the toy sequences (events.parquet, labels.parquet, session and
day sequence sets) so that the test does not depend on the synthetic generator and runs in
seconds; its test period is guaranteed to hold malicious sequences.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from neighborwatch.cli import app
from neighborwatch.models import registry
from neighborwatch.models.base import ACTIVITY, SEQUENCE, Detector
from neighborwatch.models.manifest import REGISTERED
from neighborwatch.sequences.base import SequenceSet
from neighborwatch.sequences.toy import WORDS, toy_data
from neighborwatch.workdir import WorkDir

SOURCE_OF = {
    "Logon": ("logon", "Logon"),
    "Logoff": ("logon", "Logoff"),
    "Connect": ("device", "Connect"),
    "Disconnect": ("device", "Disconnect"),
    "file": ("file", "File Open"),
    "email": ("email", "Send"),
    "http": ("http", "WWW Visit"),
}


def build_toy_work(root: Path) -> WorkDir:
    """train / validation / test toy splits in one SequenceSet with global event rows."""
    parts = toy_data(seed=1, n_train=200, n_val=60, n_test=80, anomaly_rate=0.08)
    sets = [parts[n][0] for n in ("train", "validation", "test")]
    labels = np.concatenate([parts[n][1] for n in ("train", "validation", "test")])
    tokens = np.concatenate([s.tokens for s in sets])
    lengths = np.concatenate([s.lengths for s in sets])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    times = np.concatenate([s.times for s in sets])
    meta = pl.concat([s.meta for s in sets]).with_columns(pl.arange(0, len(lengths), dtype=pl.Int64).alias("seq_id"))
    work = WorkDir(root)
    for kind in ("session", "day"):  # the same sequences serve as both kinds here
        SequenceSet(
            tokens=tokens, offsets=offsets, event_rows=np.arange(len(tokens)), times=times, meta=meta, kind=kind
        ).save(work.sequence_set(kind))
    words = [WORDS[(t - 1) // 24] for t in tokens]
    users = np.repeat(meta["user"].to_numpy(), lengths)
    hosts = np.repeat(meta["host"].to_numpy(), lengths)
    ids = [f"E{i:06d}" for i in range(len(tokens))]
    pl.DataFrame(
        {
            "event_id": ids,
            "time": times.astype("datetime64[us]"),
            "user": users,
            "host": hosts,
            "source": [SOURCE_OF[w][0] for w in words],
            "action": [SOURCE_OF[w][1] for w in words],
        }
    ).write_parquet(work.events)
    mal = np.flatnonzero(labels)
    pl.DataFrame(
        {
            "event_id": [ids[i] for i in mal],
            "malicious": [True] * len(mal),
            "scenario": pl.Series([1] * len(mal), dtype=pl.Int8),
            "insider": users[mal].tolist(),
        }
    ).write_parquet(work.labels)
    return work


class AlwaysFails(Detector):
    """A detector whose fit raises: the benchmark must report it, not crash."""

    name: ClassVar[str] = "always_fails_for_test"
    levels: ClassVar[frozenset[str]] = frozenset({ACTIVITY, SEQUENCE})

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, train, train_labels=None, validation=None, validation_labels=None):  # type: ignore[override]
        raise RuntimeError("deliberate failure")


@pytest.fixture
def failing_detector():
    registry.register(AlwaysFails)
    yield AlwaysFails.name
    REGISTERED.pop(AlwaysFails.name, None)


def test_benchmark_command_end_to_end(tmp_path: Path, failing_detector: str) -> None:
    work = build_toy_work(tmp_path / "work")
    out = tmp_path / "bench"
    methods = f"markov,iforest_seq,{failing_detector}"
    result = CliRunner().invoke(
        app,
        [
            "benchmark",
            str(work.root),
            "--table",
            "all",
            "--seeds",
            "1",
            "--out",
            str(out),
            "--methods",
            methods,
            "--fast",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)

    for name in (
        "realtime.md",
        "realtime.csv",
        "posthoc.md",
        "posthoc.csv",
        "results.json",
        "config.json",
        "roc_realtime.png",
        "roc_session.png",
        "roc_day.png",
    ):
        assert (out / name).stat().st_size > 0, name

    rows = list(csv.DictReader((out / "posthoc.csv").open()))
    by = {(r["level"], r["method"]): r for r in rows}
    for level in ("session", "day"):
        ok = by[(level, "iforest_seq")]
        assert ok["runs"] == "1"
        for col in ("auc", "dr", "fpr", "dr@5%", "dr@10%", "dr@15%", "auprc"):
            assert 0.0 <= float(ok[f"{col}_mean"]) <= 1.0, (level, col)
        assert float(ok["auc_mean"]) > 0.7  # the planted anomaly is easy
        assert (level, f"{failing_detector} (failed)") in by
    realtime = {r["method"]: r for r in csv.DictReader((out / "realtime.csv").open())}
    assert 0.0 <= float(realtime["markov"]["auc_mean"]) <= 1.0
    assert "iforest_seq" not in realtime  # sequence-only detectors stay out of the real-time table

    md = (out / "posthoc.md").read_text()
    assert "| iforest_seq |" in md and "deliberate failure" in md
    assert (
        "| Method | AUC | AUC 95% CI | ΔAUC vs lan | p vs lan | DR | FPR | DR@5% | DR@10% | DR@15% | AUPRC "
        "| fit s | score s |"
    ) in md
    rt_md = (out / "realtime.md").read_text()
    assert (
        "| macro AUC | caught @budget | TTD activities | TTD min | incidents /100 users/day "
        "| incident precision (ceiling) | caught by incidents | incident TTD h | fit s | score s |"
    ) in rt_md
    per_day = float(realtime["markov"]["incidents.incidents_per_day_mean"])
    assert per_day > 0 and 0 <= float(realtime["markov"]["incidents.insiders_caught_mean"]) <= 1
    assert "| markov | scenario 1 |" not in rt_md and "| Method | scenario 1 |" in rt_md  # per-scenario table
    ci_low, ci_high = float(realtime["markov"]["auc_ci.low_mean"]), float(realtime["markov"]["auc_ci.high_mean"])
    assert ci_low - 1e-9 <= float(realtime["markov"]["auc_mean"]) <= ci_high + 1e-9
    assert realtime["markov"]["fit_s_n"] == realtime["markov"]["score_s_n"] == "1"  # the cost columns
    assert (
        0
        <= float(realtime["markov"]["alert_budget.caught_mean"])
        <= float(realtime["markov"]["alert_budget.insiders_mean"])
    )

    results = json.loads((out / "results.json").read_text())
    assert results["levels"]["session"]["iforest_seq"][0]["seed"] == 0
    assert results["levels"]["session"][failing_detector][0]["status"] == "failed"
    config = json.loads((out / "config.json").read_text())
    assert config["seeds"] == [0] and config["fast"] is True and config["threads"]["torch"] == 1
    assert "torch" in config["versions"] and config["work"] == str(work.root.resolve())


def test_benchmark_rejects_unknown_methods(tmp_path: Path) -> None:
    work = build_toy_work(tmp_path / "work")
    result = CliRunner().invoke(
        app, ["benchmark", str(work.root), "--methods", "no_such_detector", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "unknown method" in result.output


def test_jobs_fit_post_hoc_baselines_per_level_and_real_time_ones_on_sessions() -> None:
    from neighborwatch.evaluation.benchmark_plan import plan_jobs, table_methods

    selection = table_methods("all", ["iforest_seq", "markov"])
    assert selection == {"realtime": ["markov"], "posthoc": ["iforest_seq", "markov"]}
    jobs = {(j.method, j.fit_kind): j.levels for j in plan_jobs(selection)}
    assert jobs == {
        ("markov", "session"): ("realtime", "session"),
        ("markov", "day"): ("day",),
        ("iforest_seq", "session"): ("session",),
        ("iforest_seq", "day"): ("day",),
    }
    default = table_methods("posthoc")["posthoc"]
    assert "iforest_seq" in default and "markov" not in default  # real-time baselines only by name


def test_levels_restrict_every_job_and_drop_the_empty_ones() -> None:
    from neighborwatch.evaluation.benchmark import only_levels
    from neighborwatch.evaluation.benchmark_plan import plan_jobs, table_methods

    plan = plan_jobs(table_methods("all", ["iforest_seq", "markov"]))
    kept = {(j.method, j.fit_kind): j.levels for j in only_levels(plan, ["realtime", "session"])}
    assert kept == {("markov", "session"): ("realtime", "session"), ("iforest_seq", "session"): ("session",)}
    with pytest.raises(ValueError, match="unknown level"):
        only_levels(plan, ["hourly"])


def test_a_detector_whose_fit_is_another_ones_shares_that_fit_when_the_parameters_match() -> None:
    from neighborwatch.evaluation.benchmark_plan import plan_jobs, share_fits, table_methods

    plan = plan_jobs(table_methods("all", ["fmlprec", "fmlprec_posthoc"]))
    shared = {(j.method, j.fit_kind): (j.levels, dict(j.also)) for j in share_fits(plan, fast=True)}
    assert shared == {
        ("fmlprec", "session"): (("realtime", "session"), {"fmlprec_posthoc": ("session",)}),
        ("fmlprec", "day"): (("day",), {"fmlprec_posthoc": ("day",)}),
    }
    # other parameters for one of them: two fits, as before
    apart = share_fits(plan, fast=True, overrides={"fmlprec_posthoc": {"max_epochs": 1}})
    assert {(j.method, j.fit_kind) for j in apart} == {(j.method, j.fit_kind) for j in plan} and len(apart) == 4


def test_a_shared_fit_gives_the_rows_their_own_fits_give_and_resumes_as_rows(tmp_path: Path) -> None:
    work = build_toy_work(tmp_path / "work")
    common = ["--seeds", "1", "--fast", "--threads", "1"]

    def bench(out: str, table: str, methods: str, *extra: str) -> dict:
        args = [
            "benchmark",
            str(work.root),
            "--table",
            table,
            "--methods",
            methods,
            *common,
            "--out",
            str(tmp_path / out),
        ]
        result = CliRunner().invoke(app, [*args, *extra])
        assert result.exit_code == 0, result.output + repr(result.exception)
        return json.loads((tmp_path / out / "results.json").read_text()) | {"output": " ".join(result.output.split())}

    both = bench("both", "posthoc", "fmlprec,fmlprec_posthoc")
    alone = bench("alone", "posthoc", "fmlprec_posthoc")
    runs = {(r["method"], r["fit_on"]): r for r in both["runs"]}
    assert runs["fmlprec_posthoc", "session"]["fit_shared_with"] == "fmlprec"
    assert runs["fmlprec_posthoc", "day"]["fit_shared_with"] == "fmlprec"
    assert both["output"].count("▶") == 2 and alone["output"].count("▶") == 2  # 2 fits for 4 rows
    for level, fit_on in [("session", "session"), ("day", "day")]:
        mine = both["levels"][level]["fmlprec_posthoc"][0]
        own = alone["levels"][level]["fmlprec_posthoc"][0]
        assert mine["auc"] == own["auc"] and mine["auc"] == both["levels"][level]["fmlprec"][0]["auc"]
        with (
            np.load(tmp_path / "both" / "scores" / f"fmlprec_posthoc.{fit_on}.seed0.{level}.npz") as a,
            np.load(tmp_path / "alone" / "scores" / f"fmlprec_posthoc.{fit_on}.seed0.{level}.npz") as b,
        ):
            assert np.array_equal(a["scores"], b["scores"]) and np.array_equal(a["labels"], b["labels"])
    again = bench("both", "posthoc", "fmlprec,fmlprec_posthoc", "--resume")
    assert "4 finished job(s) kept" in again["output"] and "▶" not in again["output"]
    assert len(again["runs"]) == 4


FAST_LAN = {
    "lan": {
        "epochs": 1,
        "max_train_samples": 600,
        "hidden": 8,
        "embed_dim": 8,
        "attention_heads": 2,
        "transformer_heads": 2,
    }
}


def test_ablation_table_rows_are_lan_variants_compared_with_full_lan(tmp_path: Path) -> None:
    from neighborwatch.models.lan.config import LANConfig

    work = build_toy_work(tmp_path / "work")
    out = tmp_path / "bench"
    params = tmp_path / "params.json"
    params.write_text(json.dumps(FAST_LAN))
    k1 = "lan[k=1,neighbours=none]"
    rows = f"lan,{k1},lan[loss=normal_only],lan[encoder=transformer],lan[k=5]"  # commas inside [] stay
    result = CliRunner().invoke(
        app,
        [
            "benchmark",
            str(work.root),
            "--table",
            "ablation",
            "--seeds",
            "1",
            "--fast",
            "--params",
            str(params),
            "--methods",
            rows,
            "--out",
            str(out),
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    results = json.loads((out / "results.json").read_text())
    config = results["config"]
    # the fast preset's k is 5: that row is the full LAN and is not fitted twice
    assert [v["name"] for v in config["variants"]] == ["lan", k1, "lan[loss=normal_only]", "lan[encoder=transformer]"]
    assert config["same_rows"] == {"lan[k=5] (k = 5)": "lan"}
    runs = {r["method"]: r for r in results["runs"]}
    tr = "lan[encoder=transformer]"
    assert runs[tr]["params"]["encoder"] == "transformer" and runs[tr]["params"]["hidden"] == 8  # preset+params+row
    fields = {f.name for f in __import__("dataclasses").fields(LANConfig)}
    md = (out / "ablation.md").read_text()
    for row, field in ((k1, "neighbours"), ("lan[loss=normal_only]", "loss")):
        # an option LANConfig does not have yet: the row shows its error, the others still run
        assert runs[row]["status"] == ("ok" if field in fields else "failed"), runs[row].get("error")
        assert (f"| {row} (failed) |" in md) == (field not in fields)
        if field in fields:
            assert runs[row]["params"][field] in ("none", "normal_only")
    for level in ("real-time", "session level", "user-day level"):
        assert level in md
    assert f"| {tr} |" in md and "`lan[k=5] (k = 5)` is the same configuration as `lan`" in md
    for level in ("realtime", "session", "day"):
        row = results["levels"][level][tr][0]
        vs = row["vs_reference"]
        assert vs["reference"] == "lan" and 0 < vs["p_value"] <= 1
        full = results["levels"][level]["lan"][0]
        assert abs(vs["diff"] - (row["auc"] - full["auc"])) < 1e-9  # paired on the same items
        assert "vs_reference" not in full
    rows_csv = {(r["level"], r["method"]): r for r in csv.DictReader((out / "ablation.csv").open())}
    assert rows_csv[("realtime", tr)]["vs_reference.p_value_max_mean"] != ""


def _table_without_cost(path: Path) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if not k.startswith(("fit_s", "score_s"))} for r in csv.DictReader(path.open())]


def test_resume_after_a_kill_gives_the_same_tables_and_skips_finished_jobs(tmp_path: Path) -> None:
    work = build_toy_work(tmp_path / "work")
    out = tmp_path / "bench"
    args = [
        "benchmark",
        str(work.root),
        "--table",
        "all",
        "--seeds",
        "2",
        "--methods",
        "markov,iforest_seq",
        "--fast",
        "--threads",
        "1",
        "--out",
        str(out),
    ]
    assert CliRunner().invoke(app, args).exit_code == 0
    full = {t: _table_without_cost(out / f"{t}.csv") for t in ("realtime", "posthoc")}
    results = json.loads((out / "results.json").read_text())
    # simulate a run killed after seed 0: only its jobs are in results.json, a half-written temp file lies around
    kept = [r for r in results["runs"] if r["seed"] == 0]
    partial = {
        **results,
        "runs": kept,
        "levels": {
            lv: {m: [x for x in per if x["seed"] == 0] for m, per in ms.items()} for lv, ms in results["levels"].items()
        },
    }
    (out / "results.json").write_text(json.dumps(partial))
    (out / "results.json.tmp").write_text('{"config": {"trunc')
    for name in ("realtime.csv", "posthoc.csv"):
        (out / name).unlink()

    result = CliRunner().invoke(app, [*args, "--resume", "--jobs", "2"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "4 finished job(s) kept" in " ".join(result.output.split())
    for t in ("realtime", "posthoc"):
        assert _table_without_cost(out / f"{t}.csv") == full[t], t
    again = json.loads((out / "results.json").read_text())
    before = {(r["method"], r["fit_on"], r["seed"]): r["seconds"] for r in kept}
    after = {(r["method"], r["fit_on"], r["seed"]): r["seconds"] for r in again["runs"]}
    assert len(after) == 8 and all(after[k] == v for k, v in before.items())  # seed 0 not rerun
    assert again["config"]["workers"] == 2

    other = CliRunner().invoke(app, [a for a in args if a != "--fast"] + ["--resume"])  # another preset
    assert other.exit_code == 2 and "cannot resume" in other.output

    # fewer levels: every finished job that evaluated them is kept, nothing is fitted again
    fewer = CliRunner().invoke(app, [*args, "--resume", "--levels", "realtime,session"])
    assert fewer.exit_code == 0, fewer.output + repr(fewer.exception)
    assert "4 finished job(s) kept" in " ".join(fewer.output.split())  # 2 session fits x 2 seeds
    assert "day" not in json.loads((out / "results.json").read_text())["levels"]
    # all levels again: the session jobs kept (they evaluated realtime + session), the day jobs rerun
    more = CliRunner().invoke(app, [*args, "--resume"])
    assert more.exit_code == 0 and "4 finished job(s) kept" in " ".join(more.output.split())
    assert len(json.loads((out / "results.json").read_text())["runs"]) == 8


def test_ablation_rows_that_restate_a_default_are_not_fitted_twice() -> None:
    """`encoder LSTM` restates LAN's config default (not spelled in the standard preset) and
    `k = 5` the standard preset's k: both are the full LAN's configuration and are listed as such,
    not fitted again."""
    from neighborwatch.evaluation.benchmark_plan import ablation_variants

    rows, same = ablation_variants(fast=False)
    names = [r.name for r in rows]
    assert names[0] == "lan" and "lan[encoder=gru]" in names and "lan[k=40]" in names and "lan[k=15]" in names
    assert same["lan[encoder=lstm] (encoder LSTM)"] == "lan" and same["lan[k=5] (k = 5)"] == "lan"
    assert "lan[encoder=lstm]" not in names and "lan[k=5]" not in names
    # a preset that changes a default keeps the row that restores it
    rows, same = ablation_variants(fast=False, overrides={"lan": {"k": 10}})
    assert "lan[k=15]" in [r.name for r in rows] and same["lan[k=10] (k = 10)"] == "lan"


def _proc_text(path: str | Path) -> str:
    """A /proc file's text, or "" when its process has just gone (these reads race with exits)."""
    try:
        return Path(path).read_text()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _children(pid: int) -> set[int]:
    """The live descendants of `pid`, from /proc (Linux)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            kids = {int(k) for k in _proc_text(task).split()}
            todo.extend(kids - found)
            found |= kids
    return found


def _alive(pid: int) -> bool:
    stat = _proc_text(f"/proc/{pid}/stat")
    return bool(stat) and stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc")
@pytest.mark.parametrize("signum", ["SIGKILL", "SIGINT"])
def test_a_killed_parallel_benchmark_leaves_no_worker_running(tmp_path: Path, signum: str) -> None:
    """SIGKILL (no clean-up in the parent) or Ctrl-C to `benchmark --jobs 2` while both workers
    fit (each fit would run for minutes): the workers end with it instead of fitting on unseen."""
    import os
    import signal
    import subprocess
    import sys
    import time

    work = build_toy_work(tmp_path / "work")
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"logbert": {"max_epochs": 100_000, "patience": 100_000}}))
    cmd = [sys.executable, "-c", "from neighborwatch.cli import app; app()", "benchmark", str(work.root)]
    cmd += ["--table", "realtime", "--methods", "logbert", "--seeds", "2", "--jobs", "2", "--threads", "1"]
    cmd += ["--params", str(params), "--out", str(tmp_path / "bench")]
    log = (tmp_path / "log.txt").open("w")
    workers: set[int] = set()
    # Ctrl-C reaches it as in a terminal even where this test runs in the background (SIGINT ignored)
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(workers) < 2:
            time.sleep(0.5)
            workers = {p for p in _children(proc.pid) if "spawn_main" in _proc_text(f"/proc/{p}/cmdline")}
        assert len(workers) == 2, (tmp_path / "log.txt").read_text()
        time.sleep(8)  # past data loading: both workers are inside their fits
        assert all(_alive(p) for p in workers)
        proc.send_signal(getattr(signal, signum))
        proc.wait(30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.2)
        survivors = [p for p in workers if _alive(p)]
    finally:
        for p in workers | _children(proc.pid):
            if _alive(p):
                os.kill(p, signal.SIGKILL)
        proc.kill()
        log.close()
    assert not survivors, f"workers still running after their benchmark was killed: {survivors}"
