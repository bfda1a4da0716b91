"""A self-contained HTML report of one evaluation: curves, distributions, insider timelines.

Everything lands in one `index.html` (PNG figures embedded as base64) so that the report can be
mailed or archived as a single file. It needs the result of `evaluate_detector(...,
keep_scores=True)`: the figures are drawn from the test scores, the tables from the metrics.
"""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from neighborwatch.evaluation import tables as T
from neighborwatch.evaluation.metrics import BUDGETS, budget_key
from neighborwatch.evaluation.protocol import LEVEL_TITLES, REALTIME
from neighborwatch.jsonutil import to_jsonable

MAX_TIMELINES = 48  # small multiples beyond this stop being readable
MAX_CURVE_POINTS = 4000
NORMAL_COLOR, MALICIOUS_COLOR, ACCENT = "#7f8c8d", "#c0392b", "#2c6fbb"
_US_PER_DAY = 86_400_000_000


def _figure_to_data_uri(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if x.size <= MAX_CURVE_POINTS:
        return x, y
    idx = np.unique(np.linspace(0, x.size - 1, MAX_CURVE_POINTS).astype(int))
    return x[idx], y[idx]


def level_figure(level: str, arrays: dict[str, np.ndarray], metrics: dict[str, Any]) -> str | None:
    """ROC, precision-recall and score distributions of one level's test items (data URI)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    from sklearn.metrics import precision_recall_curve, roc_curve

    s, y = np.asarray(arrays["scores"], float), np.asarray(arrays["labels"], bool)
    ok = ~np.isnan(s)
    s, y = s[ok], y[ok]
    if y.sum() == 0 or y.sum() == y.size:
        return None
    fig, (ax_roc, ax_pr, ax_hist) = plt.subplots(1, 3, figsize=(13.5, 4.0))
    fpr, tpr, _ = roc_curve(y, s)
    ax_roc.plot(*_thin(fpr, tpr), color=ACCENT, lw=2, label=f"AUC {metrics['auc']:.3f}")
    ax_roc.plot([0, 1], [0, 1], ls="--", color="#bbb", lw=1)
    if not math.isnan(metrics["fpr"]):
        ax_roc.scatter(
            [metrics["fpr"]], [metrics["dr"]], color=MALICIOUS_COLOR, zorder=3, label="threshold from validation"
        )
    opt = metrics["test_optimal"]
    ax_roc.scatter(
        [opt["fpr"]],
        [opt["dr"]],
        facecolor="none",
        edgecolor="black",
        zorder=3,
        label="test-optimal (paper comparison)",
    )
    ax_roc.set(xlabel="false-positive rate", ylabel="detection rate", title="ROC", xlim=(0, 1), ylim=(0, 1.02))
    ax_roc.legend(loc="lower right", fontsize=8)
    prec, rec, _ = precision_recall_curve(y, s)
    # malicious items are rare: on a linear axis every curve hugs 0; a log axis shows how far above
    # chance (the share of malicious items) precision stays
    ax_pr.plot(*_thin(rec, prec), color=ACCENT, lw=2, drawstyle="steps-post", label=f"AUPRC {metrics['auprc']:.3f}")
    ax_pr.axhline(y.mean(), ls="--", color="#999", lw=1, label=f"chance {y.mean():.2g}")
    ax_pr.set_yscale("log")
    ax_pr.set(
        xlabel="recall (DR)",
        ylabel="precision (log)",
        title="Precision–recall",
        xlim=(0, 1),
        ylim=(max(y.mean() / 3, 1e-6), 1.2),
    )
    ax_pr.legend(loc="upper right", fontsize=8)
    # a few outliers (e.g. sequences without a scored activity) would squeeze everything else
    # into one bin: scores below the 0.5th percentile (of normal items; never cutting malicious
    # ones) are pooled into the first bin
    lo = min(float(np.quantile(s[~y], 0.005)), float(s[y].min()))
    bins = np.histogram_bin_edges(np.clip(s, lo, None), bins=50)
    s = np.clip(s, lo, None)
    ax_hist.hist(s[~y], bins=bins, density=True, alpha=0.6, color=NORMAL_COLOR, label=f"normal ({(~y).sum():,})")
    ax_hist.hist(s[y], bins=bins, density=True, alpha=0.6, color=MALICIOUS_COLOR, label=f"malicious ({y.sum():,})")
    thr = metrics["threshold"]["value"]
    if not math.isnan(thr):
        ax_hist.axvline(thr, color="black", lw=1, ls=":", label="threshold")
    ax_hist.set_yscale("log")
    ax_hist.xaxis.set_major_locator(MaxNLocator(5))
    ax_hist.set(xlabel="anomaly score", ylabel="density (log)", title="Score distributions")
    ax_hist.legend(fontsize=8)
    fig.tight_layout()
    return _figure_to_data_uri(fig)


def timelines_figure(arrays: dict[str, np.ndarray], ttd: list[dict], threshold: float) -> str | None:
    """Per test insider: activity scores over time, malicious activities in red, alerts marked.

    The window runs from 3 days before the insider's first malicious activity to 3 days after
    the last one, so that the false alarms around the attack are visible too.
    """
    import matplotlib.pyplot as plt

    if not ttd:
        return None
    rows = ttd[:MAX_TIMELINES]
    s = np.asarray(arrays["scores"], float)
    y = np.asarray(arrays["labels"], bool)
    t = np.asarray(arrays["times"], np.int64)
    users = np.asarray(arrays["users"], object)
    ins = np.asarray(arrays["insiders"], object)
    ncol = 3 if len(rows) > 2 else len(rows)
    nrow = math.ceil(len(rows) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 2.5 * nrow), squeeze=False)
    finite = s[~np.isnan(s)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    names, user_code = np.unique(users.astype(str), return_inverse=True)  # one sort, not one per insider
    mal_idx = np.flatnonzero(y)
    for ax, row in zip(axes.flat, rows):
        mal = np.zeros(y.shape, dtype=bool)
        mal[mal_idx[ins[mal_idx] == row["insider"]]] = True
        mine = np.isin(user_code, np.searchsorted(names, row["users"]))
        t0, t1 = t[mal].min() - 3 * _US_PER_DAY, t[mal].max() + 3 * _US_PER_DAY
        sel = mine & (t >= t0) & (t <= t1) & ~np.isnan(s)
        when = t[sel].astype("datetime64[us]").astype("datetime64[ms]").astype(object)
        colors = np.where(y[sel], MALICIOUS_COLOR, NORMAL_COLOR)
        order = np.argsort(y[sel], kind="stable")  # malicious drawn last, on top
        ax.scatter(
            np.asarray(when)[order],
            s[sel][order],
            c=colors[order],
            s=np.where(y[sel][order], 14, 5),
            rasterized=True,
            linewidths=0,
        )
        if not math.isnan(threshold):
            ax.axhline(threshold, color="black", lw=0.8, ls=":")
        unscored_mal = mal & mine & np.isnan(s)
        for tm in t[unscored_mal]:
            ax.axvline(
                np.datetime64(int(tm), "us").astype("datetime64[ms]").astype(object),
                color=MALICIOUS_COLOR,
                lw=0.5,
                alpha=0.3,
            )
        if row["detected"]:
            alert_at = np.datetime64(row["first_alert"].replace(" ", "T"), "ms").astype(object)
            ax.axvline(alert_at, color=ACCENT, lw=1.2, ls="--")
        status = (
            f"alert after {row['minutes']:.0f} min, {row['malicious_before_alert']} mal. before"
            if row["detected"]
            else "never alerted"
        )
        scen = f"scenario {row['scenario']}" if row.get("scenario") else ""
        ax.set_title(f"{row['insider']}  {scen}\n{status}", fontsize=8.5)
        ax.set_ylim(lo - 0.02 * (hi - lo), hi + 0.05 * (hi - lo))
        _date_axis(ax)
        ax.set_ylabel("activity score", fontsize=7.5)
    for ax in list(axes.flat)[len(rows) :]:
        ax.axis("off")
    fig.tight_layout()
    return _figure_to_data_uri(fig)


def _date_axis(ax) -> None:
    """Dates that do not repeat: a few ticks, the month/year said once (ConciseDateFormatter)."""
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.tick_params(labelsize=7)


def incidents_figure(block: dict[str, Any]) -> str | None:
    """Incidents per test day against the analyst budget; those on insiders' malicious activity in red."""
    import matplotlib.pyplot as plt

    if block.get("status") != "ok" or not block["daily"]["incidents"]:
        return None
    n = np.asarray(block["daily"]["incidents"])
    hit = np.asarray(block["daily"]["on_insider"])
    start = np.datetime64(int(block["daily"]["start"]), "us").astype("datetime64[D]")
    days = (start + np.arange(n.size)).astype("datetime64[ms]").astype(object)
    budget = block["budget_per_day"] * block["users"] / 100.0
    fig, ax = plt.subplots(figsize=(11, 3.2))
    ax.bar(days, n - hit, width=0.9, color=NORMAL_COLOR, label="other incidents")
    ax.bar(days, hit, bottom=n - hit, width=0.9, color=MALICIOUS_COLOR, label="on an insider's malicious activity")
    ax.axhline(
        budget,
        color="black",
        ls="--",
        lw=1,
        label=f"budget: {block['budget_per_day']:g} per 100 users per day = {budget:.1f}",
    )
    ax.set(ylabel="incidents per day", title="Incidents raised per test day")
    _date_axis(ax)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return _figure_to_data_uri(fig)


def alerts_rows(block: dict[str, Any]) -> dict[str, Any] | None:
    if block.get("status") != "ok":
        return None

    def pct(v: float | None) -> str:
        return "–" if v is None else f"{100 * v:.1f}%"

    return {
        "summary": [
            ("budget (incidents / 100 users / day)", _fmt(block["budget_per_day"], 2)),
            ("incidents / 100 users / day (test)", _fmt(block["incidents_per_day"], 2)),
            ("alerts / 100 users / day", _fmt(block["alerts_per_day"], 2)),
            ("incidents (test)", _fmt(block["incidents"])),
            ("incidents on an insider's malicious activity", pct(block["incident_precision"])),
            ("insiders caught", f"{pct(block['insiders_caught'])} of {block['insiders']}"),
            (
                "median time to detect",
                "–" if block["median_ttd_hours"] is None else f"{block['median_ttd_hours']:.1f} h",
            ),
            ("median malicious activities before detection", _fmt(block["median_malicious_before_detection"], 1)),
        ],
        "insiders": [
            {
                "caught": r["caught"],
                "cells": [
                    r["insider"],
                    _fmt(r["scenario"]),
                    _fmt(r["malicious_activities"]),
                    _fmt(r["caught"]),
                    _fmt(r["ttd_hours"], 1),
                    _fmt(r["malicious_before_detection"]),
                ],
            }
            for r in block["per_insider"]
        ],
    }


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    if isinstance(v, float):
        return "–" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def metrics_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One display row per level (shared by the HTML report; skipped levels say why)."""
    out = []
    for level, m in result["levels"].items():
        row: dict[str, Any] = {"level": LEVEL_TITLES.get(level, level), "status": m["status"]}
        if m["status"] != "ok":
            row["reason"] = m.get("reason", "")
        else:
            row["cells"] = [_fmt(m[c]) for c in T.COLUMNS]
            row["optimal"] = [_fmt(m["test_optimal"]["dr"]), _fmt(m["test_optimal"]["fpr"])]
            row["threshold"] = _fmt(m["threshold"]["value"])
            row["counts"] = [_fmt(m["counts"][k]) for k in ("items", "positives", "unscored")]
        out.append(row)
    return out


def scenario_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for level, m in result["levels"].items():
        for r in m.get("per_scenario", []):
            out.append(
                {
                    "level": LEVEL_TITLES.get(level, level),
                    "scenario": r["scenario"],
                    "cells": [
                        _fmt(r["positives"]),
                        _fmt(r["unscored"]),
                        _fmt(r["detected_at_threshold"]),
                        *(_fmt(r[budget_key(b)]) for b in BUDGETS),
                    ],
                }
            )
    return out


def ttd_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "detected": r["detected"],
            "cells": [
                r["insider"],
                _fmt(r["scenario"]),
                _fmt(r["malicious_activities"]),
                r["first_malicious"],
                _fmt(r["detected"]),
                _fmt(r["minutes"], 1),
                _fmt(r["malicious_before_alert"]),
                _fmt(r["alert_on_malicious"]),
            ],
        }
        for r in result.get("time_to_detect", [])
    ]


def write_report(result: dict[str, Any], out_dir: str | Path) -> Path:
    """Render `result` (with "arrays") to `out_dir/index.html`; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    from jinja2 import Environment, PackageLoader, select_autoescape

    if "arrays" not in result:
        raise ValueError("the report needs the test scores: evaluate with keep_scores=True")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arrays = result["arrays"]
    figures = []
    for level, m in result["levels"].items():
        if m["status"] == "ok" and level in arrays:
            uri = level_figure(level, arrays[level], m)
            if uri:
                figures.append({"title": LEVEL_TITLES[level], "uri": uri})
    timeline = None
    if REALTIME in arrays and result["levels"][REALTIME]["status"] == "ok":
        timeline = timelines_figure(
            arrays[REALTIME], result.get("time_to_detect", []), result["levels"][REALTIME]["threshold"]["value"]
        )
    alerts = result.get("alerts") or {}
    env = Environment(
        loader=PackageLoader("neighborwatch.evaluation", "templates"), autoescape=select_autoescape(["html", "j2"])
    )
    html = env.get_template("report.html.j2").render(
        detector=result.get("detector", "detector"),
        config=result.get("config", {}),
        protocol=result.get("protocol", {}),
        columns=[T.header(c) for c in T.COLUMNS],
        budget_headers=[budget_key(b).upper() for b in BUDGETS],
        metrics=metrics_rows(result),
        scenarios=scenario_rows(result),
        ttd=ttd_rows(result),
        n_ttd=len(result.get("time_to_detect", [])),
        max_timelines=MAX_TIMELINES,
        figures=figures,
        timeline=timeline,
        alerts=alerts_rows(alerts),
        incidents_figure=incidents_figure(alerts),
        provenance=json.dumps(
            to_jsonable({"config": result.get("config", {}), "protocol": result.get("protocol", {})}), indent=2
        ),
    )
    path = out / "index.html"
    path.write_text(html, encoding="utf-8")
    return path
