"""`neighborwatch benchmark`: LAN and every baseline, trained and evaluated under one protocol.

The paper's two comparison tables (LAN.md §6-7), reproducible in one command on any prepared
WORK folder:

* **real-time table** — every registered detector that scores single activities (LAN and the
  real-time baselines), fitted on the training sessions, evaluated at the activity level;
* **post-hoc table** — LAN (its sequence score) and every sequence-only detector, at the session
  AND the user-day level. Post-hoc baselines are fitted separately per level (on training
  sessions for the session level, on training user-days for the day level); LAN is fitted once,
  on sessions, and scores both (as `neighborwatch evaluate` does);
* **ablation table** — LAN variants (`benchmark_plan.ABLATIONS`) at all three levels.

Every row carries, per seed, the session-bootstrap 95 % CI of its AUC, a paired bootstrap of its
AUC against LAN's on the same items and seed (from the test scores each job leaves in
OUT/scores/), and for real-time the per-insider macro AUC and insiders caught / time-to-detect
at a fixed alert budget (all from `evaluation.metrics`, through `protocol.evaluate_on`), plus
its fit and scoring seconds. Jobs run one after another, or in `jobs` worker processes; with
`resume`, the (row, fit, seed) jobs already in OUT/results.json are kept and not run again.

Three steps, three modules: `benchmark_plan` (tables, jobs, parameters: each detector's own
`presets`, optionally overridden per method by a JSON file), this module (running: fit, the
protocol, records) and `benchmark_render` (tables, JSON, plots). Everything a method is
measured with comes from `evaluation.protocol.evaluate_on` (validation threshold first, each
test split scored once) and `evaluation.tables` (mean ± std over seeds), so the benchmark cannot
drift from the single-model evaluation. A method that fails (an exception in fit or scoring) is
recorded with its error and shown as failed in the tables; the run goes on.

Outputs in OUT: realtime.md/.csv, posthoc.md/.csv, ablation.md/.csv, roc_<level>.png (all
methods, first seed), results.json (every per-seed number), config.json (the run's configuration
and versions), scores/ (test scores per job, for the paired comparisons and --resume).
"""

from __future__ import annotations

import json
import os
import platform
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.markup import escape

from neighborwatch.data.labels import row_labels
from neighborwatch.evaluation import metrics as M
from neighborwatch.evaluation.alerting import DEFAULT_BUDGET
from neighborwatch.evaluation.benchmark_plan import (
    TABLE_LEVELS,
    Job,
    ablation_variants,
    featured_method,
    plan_jobs,
    preset,
    share_fits,
    table_methods,
)
from neighborwatch.evaluation.benchmark_render import fmt, plot_roc, write_results
from neighborwatch.evaluation.evaluate import alerting_block
from neighborwatch.evaluation.protocol import LEVELS as P_LEVELS
from neighborwatch.evaluation.protocol import REALTIME, EvalData, evaluate_on, load_eval_data
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
def build_detector(
    method: str,
    seed: int,
    vocab_size: int,
    fast: bool,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    changes: Mapping[str, Any] | None = None,
) -> tuple[Detector, dict[str, Any]]:
    params = {**preset(method, fast, overrides), **(changes or {})}
    return available()[method].create(params, seed=seed, vocab_size=vocab_size), {**params, "seed": seed}


def run_job(
    job: Job, seed: int, data: BenchmarkData, fast: bool, overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """Fit and evaluate one job; never raises (a failure is returned with its error).

    A plain function of its arguments (an engine may map it over jobs in other processes). The
    record holds, besides the metrics, "arrays": {level: test scores, labels, bootstrap groups}
    (numpy; `store_arrays` moves them to OUT/scores/ before anything is written as JSON)."""
    t0 = time.perf_counter()
    record = job_record(job, seed)
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
        for level in job.fit_levels:
            record["levels"][level] = {"status": "failed", "error": record["error"]}
    record["warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    record["seconds"] = time.perf_counter() - t0
    return record


def job_record(job: Job, seed: int) -> dict[str, Any]:
    """What every record of `job` says about the job itself, before any result."""
    record: dict[str, Any] = {
        "method": job.name,
        "seed": seed,
        "fit_on": job.fit_kind,
        "levels": {},
        "job_levels": list(job.levels),
    }
    if job.name != job.method:
        record.update(base_method=job.method, changes=dict(job.changes))
    if job.also:
        record["also"] = {row: list(levels) for row, levels in job.also.items()}
    return record


def failed_record(job: Job, seed: int, error: str) -> dict[str, Any]:
    """The record of a job that never returned one (e.g. its process died)."""
    return {
        **job_record(job, seed),
        "status": "failed",
        "error": error,
        "levels": {lv: {"status": "failed", "error": error} for lv in job.fit_levels},
        "warnings": [],
        "seconds": 0.0,
    }


def split_shared(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A job record as one record per row: its own levels, then each `also` row's (the same fit,
    marked `fit_shared_with`), so that tables, --resume and the comparisons see ordinary rows."""
    also = record.pop("also", None)
    if not also:
        return [record]
    arrays = record.pop("arrays", {})

    def part(method: str, levels: list[str], **extra: Any) -> dict[str, Any]:
        return {
            **record,
            **extra,
            "method": method,
            "job_levels": levels,
            "levels": {lv: record["levels"][lv] for lv in levels if lv in record["levels"]},
            "arrays": {lv: arrays[lv] for lv in levels if lv in arrays},
        }

    own = part(record["method"], list(record["job_levels"]))
    return [own, *(part(row, levels, fit_shared_with=record["method"]) for row, levels in also.items())]


def _fit_and_evaluate(
    job: Job,
    seed: int,
    data: BenchmarkData,
    fast: bool,
    overrides: Mapping[str, Mapping[str, Any]] | None,
    record: dict[str, Any],
    t0: float,
) -> None:
    """Fit on the job's training split, then run the protocol on its levels (fills `record`)."""
    if job.fit_kind not in data.train:
        raise FileNotFoundError(f"no training {job.fit_kind} sequences in this WORK folder")
    train, labels = data.train[job.fit_kind]
    val, val_labels = _validation(data, job.fit_kind)
    det, kw = build_detector(job.method, seed, train.vocab_size, fast, overrides, job.changes)
    record["params"] = kw
    det.fit(train, labels, val, val_labels)
    record["fit_s"] = time.perf_counter() - t0
    if summary := det.fit_summary():
        record["fit_summary"] = summary
    t1 = time.perf_counter()
    result = evaluate_on(det, data.eval, levels=job.fit_levels, keep_scores=True, seed=seed)
    # scoring alone (validation + test splits), without the metrics' bootstrap replicates
    record["score_s"] = sum(result["protocol"]["scoring_seconds"].values())
    record["evaluate_s"] = time.perf_counter() - t1
    arrays = result.pop("arrays", {})
    record["arrays"] = {
        lv: {k: arrays[lv][k] for k in ("scores", "labels", "groups")} for lv in job.fit_levels if lv in arrays
    }
    for level, res in result["levels"].items():
        if level in arrays:
            res = {**res, "roc": _roc_points(arrays[level]["labels"], arrays[level]["scores"])}
        record["levels"][level] = res
    if result.get("time_to_detect"):
        record["time_to_detect"] = result["time_to_detect"]
    if REALTIME in record["levels"]:
        record["levels"][REALTIME]["incidents"] = incident_summary(alerting_block({"arrays": arrays}, DEFAULT_BUDGET))


#: the `alerts` block's figures an analyst's budget is judged by (evaluate --json has them all)
INCIDENT_KEYS = ("incidents_per_day", "incident_precision", "precision_ceiling", "insiders_caught", "median_ttd_hours")


def incident_summary(block: Mapping[str, Any]) -> dict[str, float]:
    """The budget figures of an `alerts` block as numbers (NaN where undefined or skipped)."""
    ok = block.get("status") == "ok"
    return {k: float(block[k]) if ok and block.get(k) is not None else float("nan") for k in INCIDENT_KEYS}


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


Runner = Callable[
    [list[tuple[Job, int]], BenchmarkData, bool, Mapping[str, Mapping[str, Any]] | None], Iterable[dict[str, Any]]
]


def only_levels(plan: Sequence[Job], levels: Sequence[str]) -> list[Job]:
    """The jobs restricted to `levels` (jobs left without a level are dropped)."""
    unknown = sorted(set(levels) - set(P_LEVELS))
    if unknown:
        raise ValueError(f"unknown level(s) {', '.join(unknown)}; known: {', '.join(P_LEVELS)}")
    kept = [replace(j, levels=tuple(lv for lv in j.levels if lv in levels)) for j in plan]
    kept = [j for j in kept if j.levels]
    if not kept:
        raise ValueError(f"no job of this table evaluates {', '.join(levels)}")
    return kept


def run_jobs_here(
    pending: list[tuple[Job, int]], data: BenchmarkData, fast: bool, overrides: Mapping[str, Mapping[str, Any]] | None
) -> Iterator[dict[str, Any]]:
    """The local runner: the jobs one after the other in this process."""
    for job, seed in pending:
        console.print(f"▶ {escape(job.name)} (seed {seed}, fit on {job.fit_kind}s → {', '.join(job.levels)})")
        yield run_job(job, seed, data, fast, overrides)


def run_benchmark(
    work: str | Path,
    table: str = "all",
    seeds: int = 3,
    out: str | Path = "benchmark",
    methods: Sequence[str] | None = None,
    fast: bool = False,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    first_seed: int = 0,
    threads: int = 0,
    runner: Runner | None = None,
    resume: bool = False,
    jobs: int = 1,
    levels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Run the comparison and write every output file; returns the results object.

    `runner` runs the (job, seed) pairs and yields their records in any order (default: one after
    the other in this process, or with `jobs` > 1 in that many worker processes;
    `scale.benchmark` runs them as Ray tasks).

    `threads` > 0 caps torch and OpenMP/BLAS threads for the whole run: on a machine shared with
    other jobs, multi-threaded small models spin-wait and run several times slower than on one
    thread (measured on the 2-core development machine); 0 keeps the libraries' defaults, or with
    `jobs` > 1 gives each worker process cores // jobs threads. `resume` keeps the finished jobs
    of OUT/results.json (same WORK, preset and overrides) and runs only the others. `levels`
    keeps only those evaluation levels (e.g. the ablation without the costly user-day scoring).
    """
    if seeds < 1:
        raise ValueError("seeds must be at least 1")
    if threads < 0 or jobs < 1:
        raise ValueError("threads must be >= 0 and jobs >= 1")
    if threads and jobs == 1:
        import torch
        from threadpoolctl import threadpool_limits

        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with threadpool_limits(threads):
                return run_benchmark(
                    work, table, seeds, out, methods, fast, overrides, first_seed, 0, runner, resume, 1, levels
                )
        finally:
            torch.set_num_threads(before)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    selection = table_methods(table, methods)
    variants, same_rows = ablation_variants(fast, overrides, methods) if table == "ablation" else ([], {})
    # baselines first, the featured detector (LAN) last: the tables list it first, but its slow
    # fit should not hold back (or, when interrupted, cost) the baselines' numbers
    registry = available()
    plan = sorted(plan_jobs(selection, variants), key=lambda j: registry[j.method].featured)
    if levels:
        plan = only_levels(plan, levels)
    plan = share_fits(plan, fast, overrides)
    seed_list = [first_seed + i for i in range(seeds)]
    started = datetime.now(UTC)
    config = {
        "work": str(Path(work).resolve()),
        "table": table,
        "seeds": seed_list,
        "fast": fast,
        "methods": selection,
        "overrides": dict(overrides or {}),
        "params": {m: preset(m, fast, overrides) for t in selection.values() for m in t},
        "variants": [{"name": v.name, "what": v.what, "changes": dict(v.changes)} for v in variants],
        "same_rows": same_rows,
        "reference": featured_method(),
        "jobs": [
            row
            for j in plan
            for row in [
                {"method": j.name, "fit_on": j.fit_kind, "levels": list(j.levels)},
                *(
                    {"method": name, "fit_on": j.fit_kind, "levels": list(lvs), "fit_shared_with": j.name}
                    for name, lvs in j.also.items()
                ),
            ]
        ],
        "started": started.isoformat(timespec="seconds"),
        "versions": versions(),
        "threads": _threads(),
        "workers": jobs,
    }
    if jobs > 1:
        config["threads"] = {"per_worker": threads or worker_threads(jobs)}
    records = finished_records(out, config) if resume else []
    done = {(r["method"], r["fit_on"], r["seed"]) for r in records}
    pending = [(job, seed) for seed in seed_list for job in plan if not set(job.row_keys(seed)) <= done]
    order = [key for seed in seed_list for job in plan for key in job.row_keys(seed)]
    write_json(out / "config.json", config)
    console.print(
        f"[bold]benchmark[/]: {len(plan)} fit(s) × {len(seed_list)} seed(s) on {work}"
        + (f"; {len(records)} finished job(s) kept from {out / 'results.json'}" if resume else "")
    )
    if runner is None and jobs > 1:
        runner = process_runner(work, jobs, threads)  # each worker loads the data itself
        data = None
    else:
        data = load_benchmark_data(work) if pending else None
    selection_rows = _rows(selection, variants)
    with progress() as bar:
        task = bar.add_task("benchmark", total=len(order), completed=len(done))
        for job_record in (runner or run_jobs_here)(pending, data, fast, overrides):  # type: ignore[arg-type]
            for rec in split_shared(job_record):
                if (rec["method"], rec["fit_on"], rec["seed"]) in done:  # kept by --resume already
                    continue
                store_arrays(out, rec)
                records.append(rec)
                compare_to_reference(out, records, str(config["reference"]))
                _report(rec)
                bar.advance(task)
            # tables and JSON after every job: a long run that is interrupted keeps what it measured
            write_results(collect(records, selection_rows), selection_rows, out, config)
    records.sort(key=lambda r: order.index((r["method"], r["fit_on"], r["seed"])))  # any runner, one order

    results = collect(records, selection_rows)
    config["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    config["seconds"] = (datetime.now(UTC) - started).total_seconds()
    write_json(out / "config.json", config)
    write_results(results, selection_rows, out, config)
    for level in results["levels"]:
        plot_roc(results["levels"][level], level, out / f"roc_{level}.png")
    console.print(f"[bold]benchmark written to[/] {out}")
    return {"config": config, **results}


def _rows(selection: Mapping[str, Sequence[str]], variants: Sequence[Any]) -> dict[str, list[str]]:
    """{table: row names}: the methods, or for the ablation table its variants."""
    return {t: ([v.name for v in variants] if t == "ablation" else list(names)) for t, names in selection.items()}


def _report(rec: Mapping[str, Any]) -> None:
    if rec["status"] == "ok":
        aucs = ", ".join(f"{lv} AUC {fmt(r.get('auc'))}" for lv, r in rec["levels"].items())
        note = f" [{len(rec['warnings'])} warning(s) in results.json]" if rec["warnings"] else ""
        shared = f" (the fit of {escape(rec['fit_shared_with'])})" if rec.get("fit_shared_with") else ""
        console.print(
            f"  ✓ {escape(rec['method'])}{shared} seed {rec['seed']} in {rec['seconds']:.1f} s "
            f"(fit {rec['fit_s']:.1f} s, score {rec['score_s']:.1f} s): {aucs}{note}"
        )
    else:
        console.print(
            f"  [red]✗ {escape(rec['method'])} seed {rec['seed']} failed after {rec['seconds']:.1f} s: {escape(rec['error'])}[/]"
        )


# -- parallel worker processes ----------------------------------------------------------------
_WORKER_DATA: BenchmarkData | None = None


def worker_threads(jobs: int) -> int:
    """Threads per worker process: the cores shared out evenly (at least one)."""
    return max(1, (os.cpu_count() or 1) // jobs)


def _exit_with_parent() -> None:
    """Ends this worker the moment its parent process ends: a benchmark that is killed (SIGTERM,
    SIGKILL, a closed terminal) must not leave workers fitting on for an hour, unseen."""
    import multiprocessing as mp
    import threading

    parent = mp.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # returns when the parent's sentinel closes, i.e. when it exits
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _init_worker(work: str, threads: int) -> None:
    """Runs once in each worker process: the parent watch, thread caps, then the data (loaded
    once per worker)."""
    global _WORKER_DATA
    import torch
    from threadpoolctl import threadpool_limits

    _exit_with_parent()
    torch.set_num_threads(threads)
    threadpool_limits(threads)
    _WORKER_DATA = load_benchmark_data(work)


def _worker_job(job: Job, seed: int, fast: bool, overrides: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    assert _WORKER_DATA is not None
    return run_job(job, seed, _WORKER_DATA, fast, overrides)


def process_runner(work: str | Path, jobs: int, threads: int = 0) -> Runner:
    """A runner with `jobs` spawned worker processes (spawn, not fork: a forked child of a process
    that already ran torch threads can deadlock); each loads the data once and caps its threads
    at `threads` (0: cores // jobs). Records come back as jobs finish."""

    def run(
        pending: list[tuple[Job, int]],
        data: BenchmarkData | None,
        fast: bool,
        overrides: Mapping[str, Mapping[str, Any]] | None,
    ) -> Iterator[dict[str, Any]]:
        import multiprocessing as mp
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        if not pending:
            return
        pool = ProcessPoolExecutor(
            jobs,
            mp_context=mp.get_context("spawn"),
            initializer=_init_worker,
            initargs=(str(work), threads or worker_threads(jobs)),
        )
        finished = False
        try:
            futures = []
            for job, seed in pending:
                console.print(
                    f"▶ queued {escape(job.name)} (seed {seed}, fit on {job.fit_kind}s → {', '.join(job.levels)})"
                )
                futures.append(pool.submit(_worker_job, job, seed, fast, overrides))
            waiting = set(futures)
            while waiting:  # waits of 1 s: a Ctrl-C handed to another thread still reaches this one
                done, waiting = wait(waiting, timeout=1.0, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
            finished = True
        finally:
            if finished:
                pool.shutdown()
            else:  # interrupted, a failed worker or the consumer stopped: stop the running jobs too
                _stop_now(pool)

    return run


def _stop_now(pool: Any) -> None:
    """Cancels a pool's queued jobs and stops its running ones now (`shutdown` alone lets them
    finish first). Python 3.14 has `terminate_workers`; before it, the pool's process table, read
    before `shutdown` clears it, is the only handle."""
    if hasattr(pool, "terminate_workers"):
        pool.terminate_workers()
        return
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(5)


# -- scores on disk, paired comparisons, resume -------------------------------------------------
def _score_path(out: Path, method: str, fit_on: str, seed: int, level: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_.=," else "_" for c in method)
    return out / "scores" / f"{safe}.{fit_on}.seed{seed}.{level}.npz"


def store_arrays(out: Path, record: dict[str, Any]) -> None:
    """Move a record's test arrays to OUT/scores/ (one .npz per level), out of the JSON."""
    for level, arr in record.pop("arrays", {}).items():
        path = _score_path(out, record["method"], record["fit_on"], record["seed"], level)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **arr)


def _load_arrays(out: Path, record: Mapping[str, Any], level: str) -> dict[str, np.ndarray] | None:
    path = _score_path(out, record["method"], record["fit_on"], record["seed"], level)
    if not path.exists():
        return None
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def compare_to_reference(
    out: Path, records: Sequence[dict[str, Any]], reference: str, samples: int = M.BOOTSTRAP_SAMPLES
) -> None:
    """Fill `vs_reference` (ΔAUC, its CI and the two-sided p-value of `metrics.paired_bootstrap`)
    in every level result that lacks it, once the reference row's scores of the same seed and
    level exist: the same items, the same resampled sessions for both methods."""
    refs = {
        (r["seed"], lv): r for r in records if r["method"] == reference and r["status"] == "ok" for lv in r["levels"]
    }
    for rec in records:
        if rec["status"] != "ok" or rec["method"] == reference:
            continue
        for level, res in rec["levels"].items():
            ref = refs.get((rec["seed"], level))
            if res.get("status") != "ok" or "vs_reference" in res or ref is None:
                continue
            mine, theirs = _load_arrays(out, rec, level), _load_arrays(out, ref, level)
            if mine is None or theirs is None:
                continue
            if mine["scores"].shape != theirs["scores"].shape:  # cannot happen: one EvalData for all
                res["vs_reference"] = {"reference": reference, "error": "different items"}
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", M.DegenerateMetricWarning)
                res["vs_reference"] = {
                    "reference": reference,
                    **M.paired_bootstrap(
                        mine["labels"], mine["scores"], theirs["scores"], mine["groups"], samples, seed=rec["seed"]
                    ),
                }


#: settings that must match for --resume to reuse a job
RESUME_KEYS = ("work", "fast", "overrides", "table")


def finished_records(out: Path, config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The finished job records of OUT/results.json (same settings), rebuilt from its "runs" and
    "levels"; [] when there is none yet. Failed jobs are not kept: resuming runs them again."""
    path = out / "results.json"
    if not path.exists():
        return []
    try:
        old = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"cannot resume: {path} is not valid JSON ({e}); remove it or use another --out") from None
    prev = old.get("config", {})
    differ = [k for k in RESUME_KEYS if prev.get(k) != config.get(k)]
    if differ:
        raise ValueError(
            f"cannot resume: {path} was written with other {', '.join(differ)}; use the same settings or another --out"
        )
    wanted = {(j["method"], j["fit_on"]): j["levels"] for j in config["jobs"]}
    records = []
    for run in old.get("runs", []):
        asked = wanted.get((run["method"], run["fit_on"]))
        if (
            asked is None
            or run["seed"] not in config["seeds"]
            or run.get("status") != "ok"
            or not run.get("job_levels")
            or not set(asked) <= set(run["job_levels"])  # it evaluated fewer levels: rerun it
        ):
            continue
        # a job that evaluated more levels than this run asks for (--levels) keeps the asked ones
        job_levels = [lv for lv in run["job_levels"] if lv in asked]
        rec = {**run, "levels": {}, "job_levels": job_levels}
        for level in job_levels:
            per_seed = old.get("levels", {}).get(level, {}).get(run["method"], [])
            match = next(
                (r for r in per_seed if r.get("seed") == run["seed"] and r.get("fit_on") == run["fit_on"]), None
            )
            if match is None:
                break
            rec["levels"][level] = {k: v for k, v in match.items() if k not in ("seed", "fit_on", "fit_s", "score_s")}
        else:
            records.append(rec)
    return records


def collect(records: Iterable[dict[str, Any]], selection: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """{"levels": {level: {method: [per-seed result]}}, "runs": [job records without arrays]}."""
    levels: dict[str, dict[str, list[dict[str, Any]]]] = {}
    runs = []
    for rec in records:
        for level, res in rec["levels"].items():
            levels.setdefault(level, {}).setdefault(rec["method"], []).append(
                {
                    "seed": rec["seed"],
                    "fit_on": rec["fit_on"],
                    "fit_s": rec.get("fit_s"),
                    "score_s": rec.get("score_s"),
                    **res,
                }
            )
        runs.append({k: v for k, v in rec.items() if k != "levels"})
    order = [lv for t in selection for lv in TABLE_LEVELS[t]]
    return {"levels": {lv: levels[lv] for lv in order if lv in levels}, "runs": runs}


def versions() -> dict[str, str]:
    import sklearn
    import torch

    import neighborwatch

    return {
        "neighborwatch": getattr(neighborwatch, "__version__", "?"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "platform": platform.platform(),
        "cpus": str(__import__("os").cpu_count()),
    }


def _threads() -> dict[str, Any]:
    import torch
    from threadpoolctl import threadpool_info

    return {
        "torch": torch.get_num_threads(),
        "openmp_blas": sorted({(i.get("internal_api"), i.get("num_threads")) for i in threadpool_info()}),
    }
