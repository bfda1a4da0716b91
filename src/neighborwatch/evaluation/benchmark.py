"""`neighborwatch benchmark`: LAN and every baseline, trained and evaluated under one protocol.

The paper's two comparison tables (LAN.md §6-7), reproducible in one command on any prepared
WORK folder:

* **real-time table** — every registered detector that scores single activities (LAN and the
  real-time baselines), fitted on the training sessions, evaluated at the activity level;
* **post-hoc table** — LAN (its sequence score) and every sequence-only detector, at the session
  AND the user-day level. Post-hoc baselines are fitted separately per level (on training
  sessions for the session level, on training user-days for the day level); LAN is fitted once,
  on sessions, and scores both (as `neighborwatch evaluate` does).

Three steps, three modules: `benchmark_plan` (tables, jobs, parameters: each detector's own
`presets`, optionally overridden per method by a JSON file), this module (running: fit, the
protocol, records) and `benchmark_render` (tables, JSON, plots). Everything a method is
measured with comes from `evaluation.protocol.evaluate_on` (validation threshold first, each
test split scored once) and `evaluation.tables` (mean ± std over seeds), so the benchmark cannot
drift from the single-model evaluation. A method that fails (an exception in fit or scoring) is
recorded with its error and shown as failed in the tables; the run goes on.

Outputs in OUT: realtime.md/.csv, posthoc.md/.csv, roc_<level>.png (all methods, first seed),
results.json (every per-seed number), config.json (the run's configuration and versions).
"""

from __future__ import annotations

import platform
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from neighborwatch.data.labels import row_labels
from neighborwatch.evaluation.benchmark_plan import TABLE_LEVELS, Job, plan_jobs, preset, table_methods
from neighborwatch.evaluation.benchmark_render import fmt, plot_roc, write_results
from neighborwatch.evaluation.protocol import EvalData, evaluate_on, load_eval_data
from neighborwatch.models.base import Detector
from neighborwatch.models.registry import available
from neighborwatch.progress import console, progress
from neighborwatch.sequences.base import SequenceSet, activity_labels
from neighborwatch.workdir import WorkDir, write_json

ROC_POINTS = 400  # points kept per ROC curve (plots only)


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
    params = preset(method, fast, overrides)
    return available()[method].create(params, seed=seed, vocab_size=vocab_size), {**params, "seed": seed}


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


Runner = Callable[[list[tuple[Job, int]], BenchmarkData, bool, Mapping[str, Mapping[str, Any]] | None],
                  Iterable[dict[str, Any]]]


def run_jobs_here(pending: list[tuple[Job, int]], data: BenchmarkData, fast: bool,
                  overrides: Mapping[str, Mapping[str, Any]] | None) -> Iterator[dict[str, Any]]:
    """The local runner: the jobs one after the other in this process."""
    for job, seed in pending:
        console.print(f"▶ {job.method} (seed {seed}, fit on {job.fit_kind}s → {', '.join(job.levels)})")
        yield run_job(job, seed, data, fast, overrides)


def finished_records(path: Path, config: Mapping[str, Any], jobs: Sequence[Job]) -> list[dict[str, Any]]:
    """The job records of an earlier run's results.json that finished ("ok") under the same
    configuration (WORK, preset, parameters, methods); none if it differs or is absent."""
    import json

    from neighborwatch.jsonutil import to_jsonable

    if not path.exists():
        return []
    old = json.loads(path.read_text())
    same = ("work", "table", "fast", "methods", "params")
    if any(old.get("config", {}).get(k) != json.loads(json.dumps(to_jsonable(config[k]))) for k in same):
        return []
    levels_of = {(j.method, j.fit_kind): j.levels for j in jobs}
    records = []
    for run in old.get("runs", []):
        levels = levels_of.get((run["method"], run["fit_on"]))
        if run.get("status") != "ok" or levels is None:
            continue
        per_level = {lv: next((r for r in old["levels"].get(lv, {}).get(run["method"], [])
                               if r["seed"] == run["seed"]), None) for lv in levels}
        if any(r is None for r in per_level.values()):
            continue
        drop = ("seed", "fit_s", "score_s")
        records.append({**run, "levels": {lv: {k: v for k, v in r.items() if k not in drop}
                                          for lv, r in per_level.items()}})
    return records


def run_benchmark(work: str | Path, table: str = "all", seeds: int = 3, out: str | Path = "benchmark",
                  methods: Sequence[str] | None = None, fast: bool = False,
                  overrides: Mapping[str, Mapping[str, Any]] | None = None, first_seed: int = 0,
                  threads: int = 0, runner: Runner | None = None, resume: bool = False) -> dict[str, Any]:
    """Run the comparison and write every output file; returns the results object.

    `runner` runs the (job, seed) pairs and yields their records in any order (default: one after
    the other in this process; `scale.benchmark` runs them as Ray tasks). `resume`: jobs that
    finished in OUT/results.json under the same configuration are read back, not run again.

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
                return run_benchmark(work, table, seeds, out, methods, fast, overrides, first_seed, 0,
                                     runner, resume)
        finally:
            torch.set_num_threads(before)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    selection = table_methods(table, methods)
    # baselines first, the featured detector (LAN) last: the tables list it first, but its slow
    # fit should not hold back (or, when interrupted, cost) the baselines' numbers
    registry = available()
    jobs = sorted(plan_jobs(selection), key=lambda j: registry[j.method].featured)
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

    order = [(job.method, job.fit_kind, seed) for seed in seed_list for job in jobs]
    records = finished_records(out / "results.json", config, jobs) if resume else []
    done = {(r["method"], r["fit_on"], r["seed"]) for r in records}
    pending = [(job, seed) for seed in seed_list for job in jobs
               if (job.method, job.fit_kind, seed) not in done]
    if done:
        console.print(f"resuming: {len(done)} finished job(s) read back from {out / 'results.json'}")
    with progress() as bar:
        task = bar.add_task("benchmark", total=len(order), completed=len(done))
        for rec in (runner or run_jobs_here)(pending, data, fast, overrides):
            if rec["status"] == "ok":
                aucs = ", ".join(f"{lv} AUC {fmt(r.get('auc'))}" for lv, r in rec["levels"].items())
                note = f" [{len(rec['warnings'])} warning(s) in results.json]" if rec["warnings"] else ""
                console.print(f"  ✓ {rec['method']} seed {rec['seed']} in {rec['seconds']:.1f} s "
                              f"(fit {rec['fit_s']:.1f} s, score {rec['score_s']:.1f} s): {aucs}{note}")
            else:
                console.print(f"  [red]✗ {rec['method']} seed {rec['seed']} failed after "
                              f"{rec['seconds']:.1f} s: {rec['error']}[/]")
            records.append(rec)
            bar.advance(task)
            # tables and JSON after every job: a long run that is interrupted keeps what it measured
            write_results(collect(records, selection), selection, out, config)
    records.sort(key=lambda r: order.index((r["method"], r["fit_on"], r["seed"])))  # any runner, one order

    results = collect(records, selection)
    config["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    config["seconds"] = (datetime.now(timezone.utc) - started).total_seconds()
    write_json(out / "config.json", config)
    write_results(results, selection, out, config)
    for level in results["levels"]:
        plot_roc(results["levels"][level], level, out / f"roc_{level}.png")
    console.print(f"[bold]benchmark written to[/] {out}")
    return {"config": config, **results}


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
