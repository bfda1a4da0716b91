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
    out = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(work.root),
            str(model),
            "--json",
            str(tmp_path / "m.json"),
            "--report",
            str(tmp_path / "report"),
        ],
    )
    assert out.exit_code == 0, out.output
    assert "real-time (activity level)" in out.output and "time-to-detect" in out.output

    res = json.loads((tmp_path / "m.json").read_text())  # strict JSON: NaN would not parse back as null
    assert set(res["levels"]) == {"realtime", "session", "day"}
    rt = res["levels"]["realtime"]
    assert {
        "auc",
        "auprc",
        "dr",
        "fpr",
        "dr@5%",
        "dr@10%",
        "dr@15%",
        "test_optimal",
        "per_scenario",
        "counts",
        "threshold",
    } <= set(rt)
    assert res["config"]["model"] == str(model.resolve()) and res["config"]["seed"] == 3
    assert res["config"]["split_dates"]["test_start"].startswith("2010-07-23")
    assert "arrays" not in res
    insiders = [r["insider"] for r in res["time_to_detect"]]
    assert insiders
    alerts = res["alerts"]
    assert alerts["status"] == "ok"
    for key in ("budget_per_day", "incidents_per_day", "incident_precision", "insiders_caught", "median_ttd_hours"):
        assert key in alerts, key
    assert alerts["budget_per_day"] == 5.0 and 0 <= alerts["insiders_caught"] <= 1
    assert {r["insider"] for r in alerts["per_insider"]} == set(insiders)

    html = (tmp_path / "report" / "index.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) == 5  # three levels' curves + incidents per day + insider timelines
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


def test_report_renders_in_a_browser_without_errors(tmp_path) -> None:
    """Full page in Debian's chromium: it renders, every figure loads, no console errors, the
    provenance is collapsed, the axes carry labels (checked on the figure code's output)."""
    from pathlib import Path

    chromium = "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("Debian chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    work, data = make_toy_work(tmp_path / "work")
    model = tmp_path / "model"
    TokenFrequency().fit(data["train"][0]).save(model)
    out = CliRunner().invoke(app, ["evaluate", str(work.root), str(model), "--report", str(tmp_path / "report")])
    assert out.exit_code == 0, out.output
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto((tmp_path / "report" / "index.html").as_uri())
            widths = [img.evaluate("i => i.naturalWidth") for img in page.locator("img").all()]
            assert len(widths) == 5 and min(widths) > 200  # every embedded figure decoded
            assert not page.locator("details pre").is_visible()  # provenance collapsed by default
            page.locator("details summary").click()
            assert page.locator("details pre").is_visible()
            assert page.get_by_text("Alerts an analyst would have worked").is_visible()
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            assert page.evaluate("document.body.scrollHeight") > 2000 and shot.stat().st_size > 50_000
            assert not errors, errors
        finally:
            browser.close()


def test_figures_label_their_axes() -> None:
    """Timelines and the incidents chart: labelled y axes, dates not repeated on the x axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neighborwatch.evaluation import report as R

    captured = []
    original = R._figure_to_data_uri
    R._figure_to_data_uri = lambda fig: captured.append(fig) or "data:"
    try:
        day = 86_400_000_000
        block = {
            "status": "ok",
            "budget_per_day": 5.0,
            "users": 40,
            "daily": {"start": 14_700 * day, "incidents": [1, 3, 0, 2] * 10, "on_insider": [0, 1, 0, 0] * 10},
        }
        R.incidents_figure(block)
        t = np.arange(200, dtype=np.int64) * (day // 10) + 14_700 * day
        arrays = {
            "scores": np.linspace(0, 1, 200),
            "labels": np.arange(200) % 50 == 0,
            "times": t,
            "users": np.array(["u"] * 200, dtype=object),
            "insiders": np.where(np.arange(200) % 50 == 0, "u", ""),
        }
        ttd = [
            {
                "insider": "u",
                "users": ["u"],
                "detected": False,
                "scenario": 1,
                "minutes": None,
                "malicious_before_alert": 0,
            }
        ]
        R.timelines_figure(arrays, ttd, 0.5)
        for fig in captured:
            fig.canvas.draw()
            ax = fig.axes[0]
            assert ax.get_ylabel()
            labels = [x.get_text() for x in ax.get_xticklabels() if x.get_text()]
            assert len(labels) == len(set(labels)) and len(labels) >= 2, labels
            plt.close(fig)
    finally:
        R._figure_to_data_uri = original
    assert len(captured) == 2
