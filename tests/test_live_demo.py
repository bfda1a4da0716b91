"""`demo --live`: the live step serves, replays the test period over HTTP, ranks the incidents and
marks those on insiders, then stops (scripts) — and a trained demo folder is reused, not retrained."""

from __future__ import annotations

import json
import shutil

import polars as pl

from neighborwatch.streaming.alerts import AlertStore
from streaming_fixtures import tiny_setup


def test_live_demo_ranks_incidents_and_marks_insiders(tmp_path) -> None:
    from neighborwatch.live_demo import run_live_demo

    src, model = tiny_setup()
    work = tmp_path / "work"
    shutil.copytree(src, work)
    events = pl.read_parquet(work / "events.parquet", columns=["event_id", "user"])
    insider = events["user"].unique().sort()[0]
    labels = events.select(
        "event_id",
        malicious=pl.col("user") == insider,
        scenario=pl.lit(1),
        insider=pl.when(pl.col("user") == insider).then(pl.col("user")),
    )
    labels.write_parquet(work / "labels.parquet")

    summary = run_live_demo(model, work, state=tmp_path / "live", keep_running=False, budget_per_day=50.0)

    store = AlertStore(tmp_path / "live" / "alerts.sqlite")
    total, rows = store.query_incidents(limit=10_000)
    assert summary["events"] > 0 and summary["incidents"] == total > 0
    assert summary["alerts"] == store.query(limit=1)[0]
    assert summary["incidents_on_insiders"] == sum(r["user"] == insider for r in rows)
    assert set(summary["insiders_caught"]) <= {insider}
    assert summary["url"].startswith("http://127.0.0.1:") and "token=" in summary["url"]
    th = json.loads((tmp_path / "live" / "thresholds.json").read_text())
    assert th["budget_per_day"] == 50.0 and th["calibration"]["incidents"] > 0


def test_demo_live_reuses_a_trained_folder(tmp_path, monkeypatch) -> None:
    import neighborwatch.data.synth as synth
    import neighborwatch.live_demo as live
    from neighborwatch.demo import run_demo, trained_demo

    out = tmp_path / "demo"
    (out / "raw").mkdir(parents=True)
    (out / "model").mkdir()
    (out / "raw" / "synth_manifest.json").write_text(json.dumps({"users": 60, "seed": 0}))
    (out / "model" / "detector.json").write_text("{}")
    (out / "metrics.json").write_text("{}")
    calls = []
    monkeypatch.setattr(live, "run_live_demo", lambda *a, **k: calls.append((a, k)) or {"incidents": 0})

    def no_synth(**_):
        raise AssertionError("retrained")

    monkeypatch.setattr(synth, "synthesize", no_synth)
    assert trained_demo(out, 60, 0) and not trained_demo(out, 80, 0) and not trained_demo(out, 60, 1)
    result = run_demo(out, users=60, seed=0, live=True, keep_serving=False)
    assert result["reused"] and calls == [((out / "model", out / "work"), {"keep_running": False})]
    (out / "metrics.json").unlink()  # an unfinished run is not reused
    assert not trained_demo(out, 60, 0)
