"""Benchmark rendering: the Markdown / CSV tables, results.json and the ROC figures.

Reads only the results records the runner collects (plain dicts), never a detector.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from neighborwatch.evaluation import tables as T
from neighborwatch.evaluation.benchmark_plan import TABLE_LEVELS
from neighborwatch.evaluation.metrics import BUDGETS, budget_key
from neighborwatch.evaluation.protocol import LEVEL_TITLES
from neighborwatch.jsonutil import to_jsonable
from neighborwatch.models.registry import available

#: the paper's column order: AUC, DR, FPR, DR@5/10/15 %, then AUPRC (which the paper lacks)
COLUMNS: tuple[str, ...] = ("auc", "dr", "fpr", *(budget_key(b) for b in BUDGETS), "auprc")

#: AUCs the LAN paper reports on the REAL CERT releases (LAN.md §6), shown under the tables for
#: orientation only: they are not measured on the benchmarked WORK folder.
PAPER_AUC: dict[str, dict[str, dict[str, float]]] = {
    "realtime": {"lan": {"r4.2": 0.9369, "r5.2": 0.9439}, "fmlprec": {"r4.2": 0.8526},
                 "deeplog": {"r4.2": 0.7469, "r5.2": 0.8549}, "sasrec (Transformer)": {"r4.2": 0.7981}},
    "posthoc": {"lan": {"r4.2": 0.9607, "r5.2": 0.9605}, "fmlprec_posthoc": {"r4.2": 0.8837},
                "rnn_posthoc (RNN)": {"r4.2": 0.8652}, "oc4seq": {"r4.2": 0.8113, "r5.2": 0.9202},
                "itdbert": {"r4.2": 0.7413}, "log2vec": {"r4.2": 0.6563}},
}


def write_results(results: Mapping[str, Any], selection: Mapping[str, Sequence[str]], out: Path,
                  config: Mapping[str, Any]) -> None:
    """results.json and the tables, rewritten after every job (an interrupted run keeps them)."""
    (out / "results.json").write_text(json.dumps(to_jsonable({"config": config, **results}), indent=1) + "\n")
    write_tables(results, selection, out, config)


def fmt(v: Any) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def level_rows(per_method: Mapping[str, Sequence[Mapping[str, Any]]], methods: Sequence[str]
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
    rows = T.summarize(ok_runs, COLUMNS)
    for r in rows:
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


def write_tables(results: Mapping[str, Any], selection: Mapping[str, Sequence[str]], out: Path,
                 config: Mapping[str, Any]) -> None:
    for t, methods in selection.items():
        md = [f"# {'Real-time' if t == 'realtime' else 'Post-hoc'} insider threat detection\n\n",
              f"WORK: `{config['work']}` · seeds: {', '.join(map(str, config['seeds']))} · "
              f"preset: {'fast' if config['fast'] else 'standard'}"
              f"{' + overrides (see config.json)' if config.get('overrides') else ''}\n\n",
              "Cells: mean ± std over seeds (– = undefined, e.g. DR/FPR when the validation "
              "period holds no malicious item). DR / FPR at the ROC point nearest (0, 1) with the "
              "threshold chosen on the validation period; DR@x% = share of malicious test items "
              "among the top x% by score; AUPRC added (the paper lacks it).\n"]
        csv_lines: list[str] = []
        for level in TABLE_LEVELS[t]:
            per_method = results["levels"].get(level, {})
            rows, failures = level_rows(per_method, methods)
            md.append(f"\n## {LEVEL_TITLES[level]}\n\n")
            md.append(T.to_markdown(rows, COLUMNS))
            if failures:
                md.append("\nFailed:\n\n" + "".join(f"* `{m}`: {_one_line(e)}\n" for m, e in failures.items()))
            body = T.to_csv(rows, COLUMNS).splitlines()
            if not csv_lines:
                csv_lines.append("level," + body[0])
            csv_lines += [f"{level},{line}" for line in body[1:]]
        md.append(_paper_reference(t))
        (out / f"{t}.md").write_text("".join(md))
        (out / f"{t}.csv").write_text("\n".join(csv_lines) + "\n")


def _paper_reference(table: str) -> str:
    lines = ["\n## For orientation: AUC reported by the LAN paper on the real CERT data\n\n",
             "Not measured here (different data)"
             + ("; the paper does not say whether its post-hoc items are sessions or days" if table == "posthoc" else "")
             + ".\n\n| Method | r4.2 | r5.2 |\n|---|---:|---:|\n"]
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
    palette = plt.get_cmap("tab20").colors  # distinct colours for up to 20 baselines
    registry = available()
    featured = {m for m in per_method if m in registry and registry[m].featured}
    for i, (method, runs) in enumerate(sorted(per_method.items(), key=lambda kv: kv[0] in featured)):
        run = next((r for r in runs if r.get("status") == "ok" and r.get("roc")), None)
        if run is None:
            continue
        ax.plot(run["roc"]["fpr"], run["roc"]["tpr"], lw=2.4 if method in featured else 1.2,
                color="black" if method in featured else palette[i % len(palette)],
                label=f"{method} (AUC {fmt(run.get('auc'))})")
    ax.plot([0, 1], [0, 1], ls="--", color="#999", lw=1)
    ax.set(xlabel="false-positive rate", ylabel="detection rate", xlim=(0, 1), ylim=(0, 1.01),
           title=f"ROC, {LEVEL_TITLES[level]}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
