"""`neighborwatch benchmark --engine ray`: every (method, seed) job a Ray task.

A runner for `evaluation.benchmark.run_benchmark`: the loaded data go into the object store
once, each pending job becomes a task that asks for `threads` CPUs (and `gpus` GPUs) and runs
`run_job` as the local runner does, and records come back as tasks finish. Each job seeds
itself (`Detector.create(seed=...)`) and a task pins torch and BLAS to its CPU request, so with
the same `--threads` the results equal the local run's; the benchmark sorts the records into
plan order, and resuming works as for the local engine (finished jobs read from results.json).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from neighborwatch.evaluation.benchmark import BenchmarkData, Runner, failed_record, run_job
from neighborwatch.evaluation.benchmark_plan import Job
from neighborwatch.progress import console
from neighborwatch.scale.cluster import connect


def _job_task(
    job: Job,
    seed: int,
    data: BenchmarkData,
    fast: bool,
    overrides: Mapping[str, Mapping[str, Any]] | None,
    threads: int,
) -> dict[str, Any]:
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    with threadpool_limits(threads):
        return run_job(job, seed, data, fast, overrides)


def ray_runner(address: str | None = None, threads: int = 1, gpus: float = 0.0) -> Runner:
    """A runner that fans the jobs out on Ray (`address`: a cluster; None: a local Ray)."""
    threads = max(1, threads)

    def run(
        pending: list[tuple[Job, int]],
        data: BenchmarkData,
        fast: bool,
        overrides: Mapping[str, Mapping[str, Any]] | None,
    ) -> Iterator[dict[str, Any]]:
        if not pending:
            return
        with connect(address) as ray:
            task = ray.remote(_job_task).options(num_cpus=threads, num_gpus=gpus, max_retries=0)
            data_ref = ray.put(data)
            jobs = {task.remote(job, seed, data_ref, fast, overrides, threads): (job, seed) for job, seed in pending}
            console.print(f"▶ {len(jobs)} job(s) submitted to Ray, {threads} CPU(s) each")
            waiting = list(jobs)
            while waiting:
                ready, waiting = ray.wait(waiting, num_returns=1)
                try:
                    yield ray.get(ready[0])
                except ray.exceptions.RayError as e:  # the task's process died (memory, node lost)
                    job, seed = jobs[ready[0]]
                    error = f"{type(e).__name__}: {str(e).splitlines()[0]}"
                    yield failed_record(job, seed, error)

    return run
