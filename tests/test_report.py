"""`neighborwatch evaluate` end to end (JSON + HTML report) and the metric tables."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from neighborwatch.cli import app
from neighborwatch.evaluation import tables as T
from neighborwatch.evaluation.evaluate import to_jsonable
from test_protocol import TokenFrequency, make_toy_work


def test_evaluate_command_writes_json_and_self_contained_report(tmp_path) -> None:
    work, data = make_toy_work(tmp_path / "work")
    model = tmp_path / "model"
    TokenFrequency().fit(data["train"][0]).save(model)
    out = CliRunner().invoke(app, ["evaluate", str(work.root), str(model), "--json", str(tmp_path / "m.json"),
                                   "--report", str(tmp_path / "report")])
    assert out.exit_code == 0, out.output
    assert "real-time (activity level)" in out.output and "time-to-detect" in out.output

    res = json.loads((tmp_path / "m.json").read_text())  # strict JSON: NaN would not parse back as null
    assert set(res["levels"]) == {"realtime", "session", "day"}
    rt = res["levels"]["realtime"]
    assert {"auc", "auprc", "dr", "fpr", "dr@5%", "dr@10%", "dr@15%", "test_optimal", "per_scenario",
            "counts", "threshold"} <= set(rt)
    assert res["config"]["model"] == str(model.resolve()) and res["config"]["seed"] == 3
    assert res["config"]["split_dates"]["test_start"].startswith("2010-07-23")
    assert "arrays" not in res
    insiders = [r["insider"] for r in res["time_to_detect"]]
    assert insiders

    html = (tmp_path / "report" / "index.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) == 4  # three levels' curves + insider timelines
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r'(src|href)="(http|//)', html)  # nothing fetched from elsewhere
    for name in insiders:
        assert name in html
    assert f"{rt['auc']:.4f}" in html


def test_report_needs_scores(tmp_path) -> None:
    from neighborwatch.evaluation.report import write_report

    with pytest.raises(ValueError, match="keep_scores"):
        write_report({"levels": {}}, tmp_path)


def test_to_jsonable_turns_nan_into_null() -> None:
    obj = {"a": math.nan, "b": np.float32(0.5), "c": [np.int64(3), np.bool_(True)], "arrays": {"x": 1}}
    assert to_jsonable(obj) == {"a": None, "b": 0.5, "c": [3, True]}


def test_tables_mean_and_std_over_runs() -> None:
    runs = {
        "LAN": [{"auc": 0.9, "dr": 0.5}, {"auc": 0.8, "dr": math.nan}],
        "skipped": [{"status": "skipped", "reason": "x"}],
    }
    rows = T.summarize(runs, columns=("auc", "dr"))
    mean, std, n = rows[0]["auc"]
    assert (mean, n) == (pytest.approx(0.85), 2) and std == pytest.approx(math.sqrt(0.005))
    assert rows[0]["dr"] == (0.5, pytest.approx(math.nan, nan_ok=True), 1)  # NaN run left out
    md = T.to_markdown(rows, columns=("auc", "dr"), digits=2)
    assert md.splitlines()[0] == "| Method | AUC | DR |"
    assert "| LAN | 0.85 ± 0.07 | 0.50 |" in md
    assert "| skipped | – | – |" in md
    csv_lines = T.to_csv(rows, columns=("auc",)).splitlines()
    assert csv_lines[0] == "method,runs,auc_mean,auc_std,auc_n"
    assert csv_lines[2] == "skipped,1,,,0"


def test_scalar_metrics_flattens_a_level_result() -> None:
    from neighborwatch.evaluation.protocol import evaluate_scores

    y = np.array([1, 0, 1, 0], dtype=bool)
    level = evaluate_scores(y, np.array([0.9, 0.1, 0.8, 0.2]), threshold=0.5)
    flat = T.scalar_metrics(level)
    assert flat["auc"] == 1.0 and flat["test_optimal.dr"] == 1.0 and flat["positives"] == 2
    assert "per_scenario" not in flat


def test_evaluate_command_explains_a_missing_model(tmp_path) -> None:
    work, _ = make_toy_work(tmp_path / "work")
    out = CliRunner().invoke(app, ["evaluate", str(work.root), str(tmp_path / "nope")])
    assert out.exit_code == 2
    assert "not a saved detector" in out.output
