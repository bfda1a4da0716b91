"""`neighborwatch benchmark`: LAN and every baseline, trained and evaluated under one protocol.

The paper's two comparison tables (LAN.md §6-7), reproducible in one command on any prepared
WORK folder:

* **real-time table** — every registered detector that scores single activities (LAN and the
  real-time baselines), fitted on the training sessions, evaluated at the activity level;
* **post-hoc table** — LAN (its sequence score) and every sequence-only detector, at the session
  AND the user-day level. Post-hoc baselines are fitted separately per level (on training
  sessions for the session level, on training user-days for the day level); LAN is fitted once,
  on sessions, and scores both (as `neighborwatch evaluate` does).

Everything a method is measured with comes from `evaluation.protocol.evaluate_on` (validation
threshold first, each test split scored once) and `evaluation.tables` (mean ± std over seeds),
so the benchmark cannot drift from the single-model evaluation. A method that fails (an
exception in fit or scoring) is recorded with its error and shown as failed in the tables; the
run goes on. Hyper-parameters come from a per-detector preset (`PRESETS`, CPU-sized; `--fast`
picks the tiny one), optionally overridden per method by a JSON file.

Outputs in OUT: realtime.md/.csv, posthoc.md/.csv, roc_<level>.png (all methods, first seed),
results.json (every per-seed number), config.json (the run's configuration and versions).
"""

from __future__ import annotations

import json
import math
import platform
import time
import traceback
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from neighborwatch.data.labels import row_labels
from neighborwatch.evaluation import tables as T
from neighborwatch.evaluation.metrics import BUDGETS, budget_key
from neighborwatch.evaluation.protocol import DAY, LEVEL_TITLES, REALTIME, SESSION, EvalData, evaluate_on, load_eval_data
from neighborwatch.models.base import ACTIVITY, SEQUENCE, Detector
from neighborwatch.models.registry import available
from neighborwatch.progress import console, progress
from neighborwatch.sequences.base import SequenceSet, activity_labels
from neighborwatch.workdir import WorkDir, write_json

TABLES = ("realtime", "posthoc", "all")
TABLE_LEVELS: dict[str, tuple[str, ...]] = {"realtime": (REALTIME,), "posthoc": (SESSION, DAY)}
#: the paper's column order: AUC, DR, FPR, DR@5/10/15 %, then AUPRC (which the paper lacks)
COLUMNS: tuple[str, ...] = ("auc", "dr", "fpr", *(budget_key(b) for b in BUDGETS), "auprc")
LAN = "lan"
ROC_POINTS = 400  # points kept per ROC curve (plots only)

# -- hyper-parameter presets -------------------------------------------------------------------
_NEXT_ACTIVITY_STANDARD = {"max_epochs": 8, "patience": 2, "epoch_samples": 200_000, "val_samples": 50_000}
_NEXT_ACTIVITY_FAST = {"max_epochs": 2, "patience": 1, "epoch_samples": 5_000, "val_samples": 2_000,
                       "window": 10}
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # standard: CPU-sized, minutes per method on a small synthetic organisation. LAN runs in its
    # fast training mode with lr 1e-3 for 5 epochs: the paper's lr 1e-5 is tuned for ~30 M
    # events and barely moves on small data. Reproduce the paper's configuration with
    # `--params FILE` holding {"lan": {"mode": "faithful", "lr": 1e-5, "epochs": 10,
    # "max_train_samples": 0}}.
    "standard": {
        LAN: {"mode": "fast", "epochs": 5, "lr": 1e-3, "max_train_samples": 200_000},
        "deeplog": _NEXT_ACTIVITY_STANDARD, "rnn": _NEXT_ACTIVITY_STANDARD,
        "gru4rec": _NEXT_ACTIVITY_STANDARD, "lstm": _NEXT_ACTIVITY_STANDARD,
        "sasrec": _NEXT_ACTIVITY_STANDARD, "fmlprec": _NEXT_ACTIVITY_STANDARD,
        "logbert": _NEXT_ACTIVITY_STANDARD,
        "rnn_posthoc": _NEXT_ACTIVITY_STANDARD, "fmlprec_posthoc": _NEXT_ACTIVITY_STANDARD,
        "oc4seq": {"epochs": 8, "max_train_chunks": 20_000},
        "itdbert": {"pretrain_epochs": 5, "epochs": 5, "max_train_chunks": 20_000},
        "lstm_ae": {"epochs": 10, "max_train_chunks": 20_000},
    },
    # fast: a tiny dataset end to end in a couple of minutes (tests, smoke runs)
    "fast": {
        LAN: {"mode": "fast", "epochs": 1, "lr": 1e-3, "embed_dim": 16, "hidden": 16, "layers": 1,
              "attention_heads": 2, "max_train_samples": 3_000, "k": 5, "batch_size": 128},
        "deeplog": _NEXT_ACTIVITY_FAST, "rnn": _NEXT_ACTIVITY_FAST, "gru4rec": _NEXT_ACTIVITY_FAST,
        "lstm": _NEXT_ACTIVITY_FAST, "sasrec": _NEXT_ACTIVITY_FAST, "fmlprec": _NEXT_ACTIVITY_FAST,
        "logbert": _NEXT_ACTIVITY_FAST,
        "rnn_posthoc": _NEXT_ACTIVITY_FAST, "fmlprec_posthoc": _NEXT_ACTIVITY_FAST,
        "markov": {}, "iforest": {"n_estimators": 50, "max_fit_rows": 20_000},
        "oc4seq": {"epochs": 2, "max_train_chunks": 1_000, "max_len": 32},
        "itdbert": {"pretrain_epochs": 1, "epochs": 2, "max_train_chunks": 1_000, "max_len": 32},
        "lstm_ae": {"epochs": 2, "max_train_chunks": 1_000, "max_len": 32},
        "iforest_seq": {"n_estimators": 50}, "gbt": {"max_iter": 50},
        "lof": {"max_train": 5_000}, "ocsvm": {"max_train": 2_000}, "log2vec": {"max_train": 5_000},
    },
}


#: AUCs the LAN paper reports on the REAL CERT releases (LAN.md §6), shown under the tables for
#: orientation only: they are not measured on the benchmarked WORK folder.
PAPER_AUC: dict[str, dict[str, dict[str, float]]] = {
    "realtime": {"lan": {"r4.2": 0.9369, "r5.2": 0.9439}, "fmlprec": {"r4.2": 0.8526},
                 "deeplog": {"r4.2": 0.7469, "r5.2": 0.8549}, "sasrec (Transformer)": {"r4.2": 0.7981}},
    "posthoc": {"lan": {"r4.2": 0.9607, "r5.2": 0.9605}, "fmlprec_posthoc": {"r4.2": 0.8837},
                "rnn_posthoc (RNN)": {"r4.2": 0.8652}, "oc4seq": {"r4.2": 0.8113, "r5.2": 0.9202},
                "itdbert": {"r4.2": 0.7413}, "log2vec": {"r4.2": 0.6563}},
}


def preset(method: str, fast: bool, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The constructor keyword arguments of `method` for this run (without seed / vocabulary)."""
    kw = dict(PRESETS["fast" if fast else "standard"].get(method, {}))
    kw.update((overrides or {}).get(method, {}))
    return kw


# -- which methods, which levels ---------------------------------------------------------------
def table_methods(table: str, methods: Sequence[str] | None = None) -> dict[str, list[str]]:
    """{table: [method names]} for `table` (realtime | posthoc | all); LAN first when present.

    Real-time: detectors that score activities. Post-hoc: LAN plus the sequence-only detectors
    (real-time baselines also have a sequence score, but the paper's post-hoc table holds its own
    baselines, so they stay out unless asked for by name).
    """
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; choose from {', '.join(TABLES)}")
    registry = available()
    if methods:
        unknown = [m for m in methods if m not in registry]
        if unknown:
            raise ValueError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(registry)}")
    wanted = ("realtime", "posthoc") if table == "all" else (table,)
    out: dict[str, list[str]] = {}
    for t in wanted:
        if t == "realtime":
            names = [n for n, c in registry.items() if ACTIVITY in c.levels]
        else:
            names = [n for n, c in registry.items() if c.levels == frozenset({SEQUENCE}) or n == LAN]
        if methods:  # an explicit list: its order, the methods that can be in this table
            can = {n for n, c in registry.items()
                   if (ACTIVITY in c.levels if t == "realtime" else SEQUENCE in c.levels)}
            names = [m for m in methods if m in can]
        names = sorted(names, key=lambda n: (n != LAN, names.index(n)))
        out[t] = names
    if not any(out.values()):
        raise ValueError(f"none of the chosen methods fits the {table} table")
    return out


@dataclass
class Job:
    """One fit of one method for one seed, and the levels evaluated with that fit."""

    method: str
    fit_kind: str  # 'session' | 'day'
    levels: tuple[str, ...]


def plan_jobs(selection: Mapping[str, Sequence[str]]) -> list[Job]:
    """LAN: one fit on sessions for all its levels; baselines: one fit per sequence kind."""
    levels_of: dict[str, list[str]] = {}
    for t, names in selection.items():
        for n in names:
            levels_of.setdefault(n, []).extend(TABLE_LEVELS[t])
    jobs: list[Job] = []
    for method, levels in levels_of.items():
        if method == LAN or REALTIME in levels:
            session_levels = tuple(lv for lv in levels if lv in (REALTIME, SESSION))
            if method == LAN:
                jobs.append(Job(method, "session", tuple(levels)))
                continue
            jobs.append(Job(method, "session", session_levels))
            rest = tuple(lv for lv in levels if lv == DAY)
            if rest:
                jobs.append(Job(method, "day", rest))
        else:
            for lv in levels:
                jobs.append(Job(method, "day" if lv == DAY else "session", (lv,)))
    return jobs


# -- data ---------------------------------------------------------------------------------------
@dataclass
class BenchmarkData:
    eval: EvalData
    train: dict[str, tuple[SequenceSet, np.ndarray]] = field(default_factory=dict)  # kind -> (seqs, labels)


def load_benchmark_data(work: str | Path) -> BenchmarkData:
    """Validation/test splits (protocol) plus the training splits with per-activity labels."""
    from neighborwatch.sequences.build import load_sequences

    wd = WorkDir(work).require()
    ev = load_eval_data(wd)
    malicious, _ = row_labels(wd)
    train: dict[str, tuple[SequenceSet, np.ndarray]] = {}
    for kind in ("session", "day"):
        try:
            seqs = load_sequences(wd, kind)
        except FileNotFoundError:
            continue
        part = seqs.split("train")
        train[kind] = (part, activity_labels(part, malicious))
    if "session" not in train:
        raise FileNotFoundError(f"{wd.root} has no session sequences; run `neighborwatch prepare` first")
    return BenchmarkData(ev, train)


def _validation(data: BenchmarkData, kind: str) -> tuple[SequenceSet | None, np.ndarray | None]:
    splits = data.eval.days if kind == "day" else data.eval.sessions
    if not splits or "validation" not in splits:
        return None, None
    return splits["validation"].seqs, splits["validation"].labels


# -- running ------------------------------------------------------------------------------------
def build_detector(method: str, seed: int, vocab_size: int, fast: bool,
                   overrides: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[Detector, dict[str, Any]]:
    cls = available()[method]
    kw = {**preset(method, fast, overrides), "seed": seed}
    if method == LAN:
        kw["vocab_size"] = vocab_size
    return cls(**kw), kw


def run_job(job: Job, seed: int, data: BenchmarkData, fast: bool,
            overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Fit and evaluate one job; never raises (a failure is returned with its error)."""
    t0 = time.perf_counter()
    record: dict[str, Any] = {"method": job.method, "seed": seed, "fit_on": job.fit_kind, "levels": {}}
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _fit_and_evaluate(job, seed, data, fast, overrides, record, t0)
        record["status"] = "ok"
    except Exception as e:  # one method's failure must not end the whole comparison
        record["status"] = "failed"
        record["error"] = f"{type(e).__name__}: {e}"
        record["traceback"] = traceback.format_exc()
        for level in job.levels:
            record["levels"][level] = {"status": "failed", "error": record["error"]}
    record["warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    record["seconds"] = time.perf_counter() - t0
    return record


def _fit_and_evaluate(job: Job, seed: int, data: BenchmarkData, fast: bool,
                      overrides: Mapping[str, Mapping[str, Any]] | None, record: dict[str, Any],
                      t0: float) -> None:
    """Fit on the job's training split, then run the protocol on its levels (fills `record`)."""
    if job.fit_kind not in data.train:
        raise FileNotFoundError(f"no training {job.fit_kind} sequences in this WORK folder")
    train, labels = data.train[job.fit_kind]
    val, val_labels = _validation(data, job.fit_kind)
    det, kw = build_detector(job.method, seed, train.vocab_size, fast, overrides)
    record["params"] = kw
    det.fit(train, labels, val, val_labels)
    record["fit_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = evaluate_on(det, data.eval, levels=job.levels, keep_scores=True)
    record["score_s"] = time.perf_counter() - t1
    arrays = result.pop("arrays", {})
    for level, res in result["levels"].items():
        if level in arrays:
            res = {**res, "roc": _roc_points(arrays[level]["labels"], arrays[level]["scores"])}
        record["levels"][level] = res
    if result.get("time_to_detect"):
        record["time_to_detect"] = result["time_to_detect"]


def _roc_points(labels: np.ndarray, scores: np.ndarray) -> dict[str, list[float]] | None:
    from sklearn.metrics import roc_curve

    ok = ~np.isnan(scores)
    y, s = np.asarray(labels, dtype=bool)[ok], scores[ok]
    if y.all() or not y.any():
        return None
    fpr, tpr, _ = roc_curve(y, s)
    if len(fpr) > ROC_POINTS:  # thin for the plot; keep both ends
        keep = np.unique(np.linspace(0, len(fpr) - 1, ROC_POINTS).round().astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist()}


def run_benchmark(work: str | Path, table: str = "all", seeds: int = 3, out: str | Path = "benchmark",
                  methods: Sequence[str] | None = None, fast: bool = False,
                  overrides: Mapping[str, Mapping[str, Any]] | None = None, first_seed: int = 0,
                  threads: int = 0) -> dict[str, Any]:
    """Run the comparison and write every output file; returns the results object.

    `threads` > 0 caps torch and OpenMP/BLAS threads for the whole run: on a machine shared with
    other jobs, multi-threaded small models spin-wait and run several times slower than on one
    thread (measured on the 2-core development machine); 0 keeps the libraries' defaults.
    """
    if seeds < 1:
        raise ValueError("seeds must be at least 1")
    if threads < 0:
        raise ValueError("threads must be >= 0")
    if threads:
        import torch
        from threadpoolctl import threadpool_limits

        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with threadpool_limits(threads):
                return run_benchmark(work, table, seeds, out, methods, fast, overrides, first_seed, 0)
        finally:
            torch.set_num_threads(before)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    selection = table_methods(table, methods)
    # baselines first, LAN last: the tables list LAN first, but a slow LAN fit should not hold
    # back (or, when interrupted, cost) the baselines' numbers
    jobs = sorted(plan_jobs(selection), key=lambda j: j.method == LAN)
    seed_list = [first_seed + i for i in range(seeds)]
    started = datetime.now(timezone.utc)
    config = {
        "work": str(Path(work).resolve()), "table": table, "seeds": seed_list, "fast": fast,
        "methods": selection, "overrides": dict(overrides or {}),
        "params": {m: preset(m, fast, overrides) for t in selection.values() for m in t},
        "jobs": [{"method": j.method, "fit_on": j.fit_kind, "levels": list(j.levels)} for j in jobs],
        "started": started.isoformat(timespec="seconds"), "versions": versions(),
        "threads": _threads(),
    }
    write_json(out / "config.json", config)
    console.print(f"[bold]benchmark[/]: {len(jobs)} fit(s) × {len(seed_list)} seed(s) on {work}")
    data = load_benchmark_data(work)

    records: list[dict[str, Any]] = []
    with progress() as bar:
        task = bar.add_task("benchmark", total=len(jobs) * len(seed_list))
        for seed in seed_list:
            for job in jobs:
                what = f"{job.method} (seed {seed}, fit on {job.fit_kind}s → {', '.join(job.levels)})"
                bar.update(task, description=f"benchmark: {job.method} seed {seed}")
                console.print(f"▶ {what}")
                rec = run_job(job, seed, data, fast, overrides)
                records.append(rec)
                if rec["status"] == "ok":
                    aucs = ", ".join(f"{lv} AUC {_fmt(r.get('auc'))}" for lv, r in rec["levels"].items())
                    note = f" [{len(rec['warnings'])} warning(s) in results.json]" if rec["warnings"] else ""
                    console.print(f"  ✓ {job.method} in {rec['seconds']:.1f} s "
                                  f"(fit {rec['fit_s']:.1f} s, score {rec['score_s']:.1f} s): {aucs}{note}")
                else:
                    console.print(f"  [red]✗ {job.method} failed after {rec['seconds']:.1f} s: {rec['error']}[/]")
                bar.advance(task)
                # tables and JSON after every job: a long run that is interrupted keeps what it measured
                _write_results(collect(records, selection), selection, out, config)

    results = collect(records, selection)
    config["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    config["seconds"] = (datetime.now(timezone.utc) - started).total_seconds()
    write_json(out / "config.json", config)
    _write_results(results, selection, out, config)
    for level in results["levels"]:
        plot_roc(results["levels"][level], level, out / f"roc_{level}.png")
    console.print(f"[bold]benchmark written to[/] {out}")
    return {"config": config, **results}


def _write_results(results: Mapping[str, Any], selection: Mapping[str, Sequence[str]], out: Path,
                   config: Mapping[str, Any]) -> None:
    (out / "results.json").write_text(json.dumps(_json_safe({"config": config, **results}), indent=1) + "\n")
    write_tables(results, selection, out, config)


def collect(records: Iterable[dict[str, Any]], selection: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """{"levels": {level: {method: [per-seed result]}}, "runs": [job records without arrays]}."""
    levels: dict[str, dict[str, list[dict[str, Any]]]] = {}
    runs = []
    for rec in records:
        for level, res in rec["levels"].items():
            levels.setdefault(level, {}).setdefault(rec["method"], []).append(
                {"seed": rec["seed"], "fit_s": rec.get("fit_s"), "score_s": rec.get("score_s"), **res})
        runs.append({k: v for k, v in rec.items() if k != "levels"})
    order = [lv for t in selection for lv in TABLE_LEVELS[t]]
    return {"levels": {lv: levels[lv] for lv in order if lv in levels}, "runs": runs}


# -- rendering ----------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
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
        lines.append(f"| {method} | {_fmt(aucs.get('r4.2'))} | {_fmt(aucs.get('r5.2'))} |\n")
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
    for i, (method, runs) in enumerate(sorted(per_method.items(), key=lambda kv: kv[0] == LAN)):
        run = next((r for r in runs if r.get("status") == "ok" and r.get("roc")), None)
        if run is None:
            continue
        ax.plot(run["roc"]["fpr"], run["roc"]["tpr"], lw=2.4 if method == LAN else 1.2,
                color="black" if method == LAN else palette[i % len(palette)],
                label=f"{method} (AUC {_fmt(run.get('auc'))})")
    ax.plot([0, 1], [0, 1], ls="--", color="#999", lw=1)
    ax.set(xlabel="false-positive rate", ylabel="detection rate", xlim=(0, 1), ylim=(0, 1.01),
           title=f"ROC, {LEVEL_TITLES[level]}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def versions() -> dict[str, str]:
    import sklearn
    import torch

    import neighborwatch

    return {"neighborwatch": getattr(neighborwatch, "__version__", "?"), "python": platform.python_version(),
            "numpy": np.__version__, "torch": torch.__version__, "scikit-learn": sklearn.__version__,
            "platform": platform.platform(), "cpus": str(__import__("os").cpu_count())}


def _threads() -> dict[str, Any]:
    import torch
    from threadpoolctl import threadpool_info

    return {"torch": torch.get_num_threads(),
            "openmp_blas": sorted({(i.get("internal_api"), i.get("num_threads")) for i in threadpool_info()})}


def _json_safe(obj: Any) -> Any:
    """NaN/inf → null and numpy scalars → Python, so results.json is strict JSON."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj
