"""Metric tables: rows = methods, columns = metrics, cells = mean ± std over runs (seeds).

Generic on purpose: the CLI prints one table per level for one detector, and the benchmark
builds the paper-style comparison (many detectors × seeds) from the same helpers. Inputs are
either flat ``{metric: value}`` dicts or level results of `protocol.evaluate_scores`, which
`scalar_metrics` flattens.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from neighborwatch.evaluation.metrics import BUDGETS, budget_key

COLUMNS: tuple[str, ...] = ("auc", "auprc", "dr", "fpr", *(budget_key(b) for b in BUDGETS))
HEADERS = {
    "auc": "AUC",
    "auprc": "AUPRC",
    "dr": "DR",
    "fpr": "FPR",
    "test_optimal.dr": "DR (test-opt.)",
    "test_optimal.fpr": "FPR (test-opt.)",
    **{budget_key(b): budget_key(b).upper() for b in BUDGETS},
    "auc_ci.low": "AUC 95% CI low",
    "auc_ci.high": "AUC 95% CI high",
    "macro_auc.macro_auc": "macro AUC",
    "alert_budget.caught": "insiders caught @budget",
    "alert_budget.median_minutes": "TTD min (median)",
    "alert_budget.median_activities": "TTD activities (median)",
    "unscored_malicious_events": "unscored malicious",
}
#: statistics columns (issue 8 §4) a comparison table can add to `COLUMNS`
STAT_COLUMNS: tuple[str, ...] = (
    "auc_ci.low",
    "auc_ci.high",
    "macro_auc.macro_auc",
    "alert_budget.caught",
    "alert_budget.median_minutes",
    "alert_budget.median_activities",
)


def scalar_metrics(level: Mapping[str, Any]) -> dict[str, float]:
    """The numeric metrics of one level result, flat (nested dicts joined with '.').

    A skipped level yields {} so that its cells show as missing rather than as zeros.
    """
    if level.get("status") == "skipped":
        return {}
    out: dict[str, float] = {}
    for key, value in level.items():
        if key in ("per_scenario", "status", "reason"):
            continue
        if isinstance(value, Mapping):
            for sub, v in value.items():
                if _is_number(v):
                    out[f"{key}.{sub}" if key != "counts" else sub] = float(v)
        elif _is_number(value):
            out[key] = float(value)
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def summarize(
    runs: Mapping[str, Sequence[Mapping[str, Any]]], columns: Sequence[str] = COLUMNS
) -> list[dict[str, Any]]:
    """One row per method: for each column (mean, std, n) over that method's runs.

    NaN and missing values are left out of the mean and of n; std is the sample std (ddof 1),
    NaN with a single run.
    """
    rows = []
    for method, results in runs.items():
        flat = [scalar_metrics(r) if "status" in r else dict(r) for r in results]
        row: dict[str, Any] = {"method": method, "runs": len(flat)}
        for col in columns:
            v = np.array([f[col] for f in flat if col in f and not math.isnan(f[col])], dtype=float)
            mean = float(v.mean()) if v.size else math.nan
            std = float(v.std(ddof=1)) if v.size > 1 else math.nan
            row[col] = (mean, std, int(v.size))
        rows.append(row)
    return rows


def format_cell(cell: tuple[float, float, int] | str, digits: int = 4) -> str:
    """'mean ± std' of a `summarize` cell; a str cell is already formatted and kept as it is."""
    if isinstance(cell, str):
        return cell
    mean, std, n = cell
    if n == 0 or math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f}" if math.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def header(col: str) -> str:
    return HEADERS.get(col, col)


def to_markdown(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = COLUMNS, digits: int = 4, method_header: str = "Method"
) -> str:
    """A GitHub-flavoured Markdown table of `summarize` rows."""
    head = [method_header, *(header(c) for c in columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * len(columns)) + "|"]
    for r in rows:
        lines.append("| " + " | ".join([str(r["method"]), *(format_cell(r[c], digits) for c in columns)]) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = COLUMNS) -> str:
    """CSV with `<metric>_mean`, `<metric>_std`, `<metric>_n` columns (empty = undefined)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["method", "runs", *(f"{c}_{p}" for c in columns for p in ("mean", "std", "n"))])
    for r in rows:
        cells = []
        for c in columns:
            mean, std, n = r[c]
            cells += ["" if math.isnan(mean) else repr(mean), "" if math.isnan(std) else repr(std), n]
        w.writerow([r["method"], r["runs"], *cells])
    return buf.getvalue()


def format_ci(ci: Mapping[str, Any] | None, digits: int = 3) -> str:
    """'0.861 [0.812, 0.903]' from `metrics.bootstrap_auc` (or a level's "auc_ci"); '–' if none."""
    if not ci or math.isnan(ci.get("auc", math.nan)):
        return "–"
    if math.isnan(ci.get("low", math.nan)):
        return f"{ci['auc']:.{digits}f}"
    return f"{ci['auc']:.{digits}f} [{ci['low']:.{digits}f}, {ci['high']:.{digits}f}]"


def format_p(p: float | None) -> str:
    """A p-value for a table cell: '< 0.001', '0.032', '–'."""
    if p is None or math.isnan(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def budget_rows(level: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per scenario (and 'all'): insiders, caught, median minutes / activities to the first alert at
    the fixed alert budget of a real-time level result (`protocol.uncertainty`)."""
    ab = level.get("alert_budget")
    if not ab:
        return []
    keys = ("insiders", "caught", "median_minutes", "median_activities")
    rows = [{"scenario": r["scenario"], **{k: r[k] for k in keys}} for r in ab["per_scenario"]]
    return rows + [{"scenario": "all", **{k: ab[k] for k in keys}}]


def level_caption(level: Mapping[str, Any]) -> str:
    """One line under a level's table: the AUC's CI, the malicious raw events scored / unscored,
    and (real-time) the macro AUC and insiders caught at the alert budget."""
    parts = []
    if level.get("auc_ci"):
        parts.append(f"AUC 95% CI {format_ci(level['auc_ci'])} ({level['auc_ci']['groups']:,} sequences resampled)")
    gt = level.get("ground_truth")
    if gt:
        parts.append(
            f"malicious raw events {gt['malicious_events']:,}: scored {gt['scored_malicious_events']:,}, "
            f"unscored {gt['unscored_malicious_events']:,}"
        )
    if level.get("macro_auc"):
        parts.append(f"macro AUC {format_cell((level['macro_auc']['macro_auc'], math.nan, 1), 3)}")
    ab = level.get("alert_budget")
    if ab:
        minutes = "–" if math.isnan(ab["median_minutes"]) else f"{ab['median_minutes']:.0f} min"
        parts.append(
            f"at {ab['alerts_per_100_users_per_day']:g} alerts/100 users/day: {ab['caught']} of "
            f"{ab['insiders']} insiders caught, median time-to-detect {minutes}"
        )
    return "; ".join(parts)
