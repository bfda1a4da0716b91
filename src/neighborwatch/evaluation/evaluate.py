"""`neighborwatch evaluate WORK MODEL`: load a saved detector, run the protocol, show and save it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from neighborwatch.evaluation import tables as T
from neighborwatch.evaluation.metrics import BUDGETS, budget_key
from neighborwatch.evaluation.protocol import LEVEL_TITLES, evaluate_detector
from neighborwatch.jsonutil import to_jsonable


def write_result_json(result: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(result), indent=2) + "\n")
    return path


def _cell(v: Any) -> str:
    return T.format_cell((float(v), math.nan, 1)) if v is not None else "–"


def print_result(result: dict[str, Any], console: Console | None = None) -> None:
    """One rich table per level, then per-scenario detection and time-to-detect."""
    console = console or Console()
    for level, m in result["levels"].items():
        title = f"{result.get('detector', '')} — {LEVEL_TITLES.get(level, level)}"
        if m["status"] != "ok":
            console.print(f"[bold]{title}[/bold]: skipped ({m.get('reason', '')})")
            continue
        c = m["counts"]
        t = Table(
            title=title,
            title_justify="left",
            caption_justify="left",
            caption=f"{c['items']:,} items, {c['positives']:,} malicious, {c['unscored']:,} unscored; "
            f"test-optimal point (paper comparison only): DR {_cell(m['test_optimal']['dr'])}, "
            f"FPR {_cell(m['test_optimal']['fpr'])}" + (f"\n{T.level_caption(m)}" if T.level_caption(m) else ""),
        )
        for col in T.COLUMNS:
            t.add_column(T.header(col), justify="right")
        t.add_row(*(_cell(m[col]) for col in T.COLUMNS))
        console.print(t)
    scen = [(lv, r) for lv, m in result["levels"].items() for r in m.get("per_scenario", [])]
    if scen:
        t = Table(title="Detection per scenario (validation threshold / budgets)", title_justify="left")
        for c in ("level", "scenario", "malicious", "at threshold", *(budget_key(b).upper() for b in BUDGETS)):
            t.add_column(c, justify="right")
        for lv, r in scen:
            t.add_row(
                lv,
                str(r["scenario"]),
                str(r["positives"]),
                _cell(r["detected_at_threshold"]),
                *(_cell(r[budget_key(b)]) for b in BUDGETS),
            )
        console.print(t)
    ttd = result.get("time_to_detect") or []
    if ttd:
        t = Table(title="Real-time time-to-detect per insider", title_justify="left")
        for c in ("insider", "scenario", "malicious", "detected", "minutes", "malicious before alert"):
            t.add_column(c, justify="right")
        for r in ttd:
            t.add_row(
                r["insider"],
                str(r["scenario"] or "–"),
                str(r["malicious_activities"]),
                "yes" if r["detected"] else "[red]never[/red]",
                f"{r['minutes']:.1f}" if r["minutes"] is not None else "–",
                str(r["malicious_before_alert"]),
            )
        caught = sum(r["detected"] for r in ttd)
        t.caption = f"{caught} of {len(ttd)} insiders alerted on"
        console.print(t)


def alerting_block(result: dict[str, Any], budget_per_day: float) -> dict[str, Any]:
    """Incidents at the validation-calibrated budget on the test period (see evaluation.alerting)."""
    from neighborwatch.evaluation.alerting import evaluate_alerting

    arrays = result.get("arrays", {})
    if "realtime_activities" not in arrays or "realtime_validation" not in arrays:
        return {"status": "skipped", "reason": "no real-time scores"}
    # the calibration window (the test period's users, on days not trained on) where the WORK has one
    key, label = (
        ("realtime_calibration", "calibration window")
        if "realtime_calibration" in arrays
        else ("realtime_validation", "validation users")
    )
    try:
        test = arrays["realtime_activities"]  # per activity, as live: a collapsed repeat raises no alert
        return {"status": "ok", **evaluate_alerting(arrays[key], test, budget_per_day, source=label)}
    except ValueError as e:  # e.g. nothing scored on validation
        return {"status": "skipped", "reason": str(e)}


def print_alerts(block: dict[str, Any], console: Console) -> None:
    if block.get("status") != "ok":
        return

    def pct(v: float | None) -> str:
        return "–" if v is None else f"{100 * v:.0f}%"

    console.print(
        f"[bold]Alerts at the budget[/bold] ({block['budget_per_day']:g} incidents per 100 users per day, "
        f"calibrated on {block['calibrated_on']}): {block['incidents']} incidents in {block['test_days']:g} test days = "
        f"{block['incidents_per_day']:.2f} per 100 users per day; {pct(block['incident_precision'])} on "
        f"insiders' malicious activity; insiders caught {pct(block['insiders_caught'])} "
        f"({sum(r['caught'] for r in block['per_insider'])}/{block['insiders']}); median time to detect "
        + ("–" if block["median_ttd_hours"] is None else f"{block['median_ttd_hours']:.1f} h")
    )


def run_evaluate(
    work: str | Path,
    model: str | Path,
    json_path: str | Path | None = None,
    report_dir: str | Path | None = None,
    console: Console | None = None,
    budget_per_day: float = 5.0,
) -> dict[str, Any]:
    """Load the detector saved in `model`, evaluate it on `work`, print, and write JSON/report."""
    from neighborwatch.models.registry import load_detector

    console = console or Console()
    detector = load_detector(model)
    result = evaluate_detector(detector, work, model_dir=model, keep_scores=True)
    result["alerts"] = alerting_block(result, budget_per_day)
    print_result(result, console)
    print_alerts(result["alerts"], console)
    if json_path is not None:
        console.print(f"metrics written to {write_result_json(result, json_path)}")
    if report_dir is not None:
        from neighborwatch.evaluation.report import write_report

        console.print(f"report written to {write_report(result, report_dir)}")
    return result
