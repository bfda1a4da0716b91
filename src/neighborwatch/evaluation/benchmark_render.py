"""Benchmark rendering: the Markdown / CSV tables, results.json and the ROC figures.

Reads only the results records the runner collects (plain dicts), never a detector. Each level's
table has the paper's metrics, then the statistics of issue 8 §4 (bootstrap CI of the AUC, ΔAUC
and paired-bootstrap p against LAN, macro AUC, insiders caught and time-to-detect at the alert
budget) and the cost (fit and scoring seconds); a real-time level also gets a per-scenario table.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from neighborwatch.evaluation import metrics as M
from neighborwatch.evaluation import tables as T
from neighborwatch.evaluation.benchmark_plan import TABLE_LEVELS
from neighborwatch.evaluation.metrics import BUDGETS, budget_key
from neighborwatch.evaluation.protocol import LEVEL_TITLES, REALTIME
from neighborwatch.jsonutil import to_jsonable
from neighborwatch.models.registry import available

#: the paper's column order: AUC, DR, FPR, DR@5/10/15 %, then AUPRC (which the paper lacks)
COLUMNS: tuple[str, ...] = ("auc", "dr", "fpr", *(budget_key(b) for b in BUDGETS), "auprc")
#: per-seed numbers summarised (mean ± std over seeds) besides COLUMNS: statistics and cost
STATS: tuple[str, ...] = (
    "auc_ci.low",
    "auc_ci.high",
    "vs_reference.diff",
    "vs_reference.p_value",
    "macro_auc.macro_auc",
    "alert_budget.caught",
    "alert_budget.insiders",
    "alert_budget.median_activities",
    "alert_budget.median_minutes",
    "incidents.incidents_per_day",
    "incidents.incident_precision",
    "incidents.precision_ceiling",
    "incidents.insiders_caught",
    "incidents.median_ttd_hours",
    "fit_s",
    "score_s",
)
P_MAX = "vs_reference.p_value_max"  # the largest p over the seeds (every seed's p is at most this)

#: AUCs the LAN paper reports on the REAL CERT releases (LAN.md §6), shown under the tables for
#: orientation only: they are not measured on the benchmarked WORK folder.
PAPER_AUC: dict[str, dict[str, dict[str, float]]] = {
    "realtime": {
        "lan": {"r4.2": 0.9369, "r5.2": 0.9439},
        "fmlprec": {"r4.2": 0.8526},
        "deeplog": {"r4.2": 0.7469, "r5.2": 0.8549},
        "sasrec (Transformer)": {"r4.2": 0.7981},
    },
    "posthoc": {
        "lan": {"r4.2": 0.9607, "r5.2": 0.9605},
        "fmlprec_posthoc": {"r4.2": 0.8837},
        "rnn_posthoc (RNN)": {"r4.2": 0.8652},
        "oc4seq": {"r4.2": 0.8113, "r5.2": 0.9202},
        "itdbert": {"r4.2": 0.7413},
        "log2vec": {"r4.2": 0.6563},
    },
}


def write_results(
    results: Mapping[str, Any], selection: Mapping[str, Sequence[str]], out: Path, config: Mapping[str, Any]
) -> None:
    """results.json and the tables, rewritten after every job (an interrupted run keeps them).

    Written to a temporary file and renamed, so a run killed while writing leaves the previous
    complete results.json (what `--resume` reads)."""
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(to_jsonable({"config": config, **results}), indent=1) + "\n")
    os.replace(tmp, out / "results.json")
    write_tables(results, selection, out, config)


def fmt(v: Any) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def level_rows(
    per_method: Mapping[str, Sequence[Mapping[str, Any]]], methods: Sequence[str]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Summarised table rows (mean ± std over the successful seeds) and {method: error} for
    methods whose every seed failed (their cells are empty; the label says failed)."""
    ok_runs: dict[str, list[Mapping[str, Any]]] = {}
    failures: dict[str, str] = {}
    for m in methods:
        runs = per_method.get(m, [])
        good = [r for r in runs if r.get("status") == "ok"]
        bad = [r for r in runs if r.get("status") == "failed"]
        if runs and not good and bad:
            failures[m] = bad[0]["error"]
        ok_runs[m] = good
    rows = T.summarize(ok_runs, COLUMNS + STATS)
    for r in rows:
        ps = [
            x["vs_reference"]["p_value"]
            for x in ok_runs[r["method"]]
            if "p_value" in x.get("vs_reference", {}) and not math.isnan(x["vs_reference"]["p_value"])
        ]
        r[P_MAX] = (max(ps), math.nan, len(ps)) if ps else (math.nan, math.nan, 0)
        m = r["method"]
        n_fail = sum(1 for x in per_method.get(m, []) if x.get("status") == "failed")
        if m in failures:
            r["method"] = f"{m} (failed)"
        elif n_fail:
            r["method"] = f"{m} ({n_fail} seed(s) failed)"
        elif not per_method.get(m):
            r["method"] = f"{m} (not run yet)"
        elif all(x.get("status") == "skipped" for x in per_method[m]):
            r["method"] = f"{m} (skipped: {per_method[m][0].get('reason', '')})"
    return rows, failures


def _mean(cell: tuple[float, float, int], digits: int) -> str:
    return "–" if cell[2] == 0 or math.isnan(cell[0]) else f"{cell[0]:.{digits}f}"


def display_row(row: dict[str, Any], level: str, reference: str) -> dict[str, Any]:
    """A summarised row with the statistics and cost as formatted cells (keys = headers)."""
    low, high = row["auc_ci.low"], row["auc_ci.high"]
    out = {
        **row,
        "AUC 95% CI": "–" if low[2] == 0 else f"[{_mean(low, 3)}, {_mean(high, 3)}]",
        f"ΔAUC vs {reference}": T.format_cell(row["vs_reference.diff"], 3),
        f"p vs {reference}": T.format_p(row[P_MAX][0]) if row[P_MAX][2] else "–",
    }
    if level == REALTIME:
        caught, insiders = row["alert_budget.caught"], row["alert_budget.insiders"]
        out.update(
            {
                "macro AUC": T.format_cell(row["macro_auc.macro_auc"], 3),
                "caught @budget": "–" if caught[2] == 0 else f"{_mean(caught, 1)} / {_mean(insiders, 0)}",
                "TTD activities": T.format_cell(row["alert_budget.median_activities"], 1),
                "TTD min": T.format_cell(row["alert_budget.median_minutes"], 0),
                "incidents /100 users/day": T.format_cell(row["incidents.incidents_per_day"], 2),
                "incident precision (ceiling)": "–"
                if row["incidents.incident_precision"][2] == 0
                else f"{_mean(row['incidents.incident_precision'], 3)} ({_mean(row['incidents.precision_ceiling'], 3)})",
                "caught by incidents": T.format_cell(row["incidents.insiders_caught"], 2),
                "incident TTD h": T.format_cell(row["incidents.median_ttd_hours"], 1),
            }
        )
    out.update({"fit s": T.format_cell(row["fit_s"], 1), "score s": T.format_cell(row["score_s"], 1)})
    return out


#: real-time columns at the alert budget: top-scored activities, then incidents (evaluation.alerting)
INCIDENT_COLUMNS = (
    "macro AUC",
    "caught @budget",
    "TTD activities",
    "TTD min",
    "incidents /100 users/day",
    "incident precision (ceiling)",
    "caught by incidents",
    "incident TTD h",
)


def display_columns(level: str, reference: str) -> tuple[str, ...]:
    budget = INCIDENT_COLUMNS if level == REALTIME else ()
    return ("auc", "AUC 95% CI", f"ΔAUC vs {reference}", f"p vs {reference}", *COLUMNS[1:], *budget, "fit s", "score s")


def scenario_table(per_method: Mapping[str, Sequence[Mapping[str, Any]]], methods: Sequence[str]) -> str:
    """Real-time: per scenario, insiders caught at the alert budget (mean over seeds / insiders)
    and the median minutes to the first alert (mean over seeds); '' when no scenario is known."""
    cells: dict[str, dict[Any, str]] = {}
    scenarios: set[Any] = set()
    for m in methods:
        runs = [r["alert_budget"] for r in per_method.get(m, []) if r.get("status") == "ok" and r.get("alert_budget")]
        by: dict[Any, list[Mapping[str, Any]]] = {}
        for ab in runs:
            for row in ab["per_scenario"]:
                by.setdefault(row["scenario"], []).append(row)
        for scen, rows in by.items():
            scenarios.add(scen)
            # NaN in a fresh record, None once it has been through results.json (--resume)
            minutes = [m for r in rows if (m := r["median_minutes"]) is not None and not math.isnan(m)]
            ttd = f", {sum(minutes) / len(minutes):.0f} min" if minutes else ""
            cells.setdefault(m, {})[scen] = (
                f"{sum(r['caught'] for r in rows) / len(rows):.1f} / {rows[0]['insiders']}{ttd}"
            )
    if not scenarios:
        return ""
    order = sorted(scenarios, key=lambda v: (v is None, v or 0))
    head = ["Method", *(f"scenario {s}" if s is not None else "scenario ?" for s in order)]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * len(order)) + "|"]
    for m in methods:
        if m in cells:
            lines.append("| " + " | ".join([m, *(cells[m].get(s, "–") for s in order)]) + " |")
    return "\n".join(lines) + "\n"


TITLES = {
    "realtime": "Real-time insider threat detection",
    "posthoc": "Post-hoc insider threat detection",
    "ablation": "Ablation of LAN (every row a LAN variant, same protocol)",
}


def write_tables(
    results: Mapping[str, Any], selection: Mapping[str, Sequence[str]], out: Path, config: Mapping[str, Any]
) -> None:
    reference = config.get("reference", "lan")
    what = {v["name"]: v["what"] for v in config.get("variants", [])}
    for t, methods in selection.items():
        md = [
            f"# {TITLES[t]}\n\n",
            f"WORK: `{config['work']}` · seeds: {', '.join(map(str, config['seeds']))} · "
            f"preset: {'fast' if config['fast'] else 'standard'}"
            f"{' + overrides (see config.json)' if config.get('overrides') else ''}\n\n",
            "Cells: mean ± std over seeds (– = undefined, e.g. DR/FPR when the validation "
            "period holds no malicious item). DR / FPR at the ROC point nearest (0, 1) with the "
            "threshold chosen on the validation period; DR@x% = share of malicious test items "
            "among the top x% by score; AUPRC added (the paper lacks it). "
            "AUC 95% CI: each seed's session (user-day) bootstrap percentile interval, bounds "
            f"averaged over seeds. ΔAUC vs {reference}: AUC minus {reference}'s on the same items "
            f"and seed; p vs {reference}: two-sided paired bootstrap p-value (same resampled "
            "sessions for both), the largest over the seeds. Real-time: macro AUC = mean over "
            "insiders of each insider's AUC; caught @budget = insiders with an alert at "
            f"{M.ALERTS_PER_100_USERS_PER_DAY:g} alerts per 100 users per day of the test period "
            "(highest scores), of all insiders; TTD = median over caught insiders of malicious "
            "activities before / minutes to the first alert. Incidents: the `evaluate` alert rules "
            "(evaluation.alerting) with thresholds calibrated on the calibration window (the days "
            "before the test cut not trained on) to 5 incidents per 100 users per day; precision = "
            "share of incidents holding a malicious activity, its ceiling = malicious episodes / "
            "incidents (a perfect detector's precision at that budget); caught by incidents = share of insiders with such an incident; incident TTD "
            "= median hours to it. fit s / score s: seconds to fit and "
            f"to score the validation and test splits (the machine: {config.get('versions', {}).get('cpus', '?')} "
            "CPUs, possibly shared).\n",
        ]
        if t == "ablation":
            md.append("\nRows:\n\n" + "".join(f"* `{m}`: {what.get(m, '')}\n" for m in methods))
            md += [
                f"* `{row}` is the same configuration as `{same}` (not fitted twice)\n"
                for row, same in config.get("same_rows", {}).items()
            ]
        csv_lines: list[str] = []
        for level in TABLE_LEVELS[t]:
            per_method = results["levels"].get(level, {})
            rows, failures = level_rows(per_method, methods)
            md.append(f"\n## {LEVEL_TITLES[level]}\n\n")
            md.append(
                T.to_markdown([display_row(r, level, reference) for r in rows], display_columns(level, reference))
            )
            if failures:
                md.append("\nFailed:\n\n" + "".join(f"* `{m}`: {_one_line(e)}\n" for m, e in failures.items()))
            if level == REALTIME and (scen := scenario_table(per_method, methods)):
                md.append(
                    "\nInsiders caught at the alert budget per scenario (mean over seeds / "
                    "insiders, mean of the median minutes to the first alert):\n\n" + scen
                )
            body = T.to_csv(rows, COLUMNS + STATS + (P_MAX,)).splitlines()
            if not csv_lines:
                csv_lines.append("level," + body[0])
            csv_lines += [f"{level},{line}" for line in body[1:]]
        if t != "ablation":
            md.append(_paper_reference(t))
        (out / f"{t}.md").write_text("".join(md))
        (out / f"{t}.csv").write_text("\n".join(csv_lines) + "\n")


def _paper_reference(table: str) -> str:
    lines = [
        "\n## For orientation: AUC reported by the LAN paper on the real CERT data\n\n",
        "Not measured here (different data)"
        + ("; the paper does not say whether its post-hoc items are sessions or days" if table == "posthoc" else "")
        + ".\n\n| Method | r4.2 | r5.2 |\n|---|---:|---:|\n",
    ]
    for method, aucs in PAPER_AUC[table].items():
        lines.append(f"| {method} | {fmt(aucs.get('r4.2'))} | {fmt(aucs.get('r5.2'))} |\n")
    return "".join(lines)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plot_roc(per_method: Mapping[str, Sequence[Mapping[str, Any]]], level: str, path: Path) -> None:
    """All methods' ROC curves of one level in one figure (each method's first successful seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 6.0))
    palette = [plt.get_cmap("tab20")(i) for i in range(20)]  # distinct colours for up to 20 baselines
    registry = available()
    featured = {m for m in per_method if m in registry and registry[m].featured}
    for i, (method, runs) in enumerate(sorted(per_method.items(), key=lambda kv: kv[0] in featured)):
        run = next((r for r in runs if r.get("status") == "ok" and r.get("roc")), None)
        if run is None:
            continue
        ax.plot(
            run["roc"]["fpr"],
            run["roc"]["tpr"],
            lw=2.4 if method in featured else 1.2,
            color="black" if method in featured else palette[i % len(palette)],
            label=f"{method} (AUC {fmt(run.get('auc'))})",
        )
    ax.plot([0, 1], [0, 1], ls="--", color="#999", lw=1)
    ax.set(
        xlabel="false-positive rate",
        ylabel="detection rate",
        xlim=(0, 1),
        ylim=(0, 1.01),
        title=f"ROC, {LEVEL_TITLES[level]}",
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
