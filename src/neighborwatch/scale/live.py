"""`neighborwatch serve ... --redis URL --engine ray --workers N`: supervised live workers.

Live scoring is already partitioned by user over Redis streams (PREFIX:0..P-1, one consumer
group); a worker is a `Runtime` over a set of partitions. Here each worker is a Ray actor that
owns partitions {p : p mod N = i}, its own state folder (STATE/worker-i: snapshots, alerts
database), a stable consumer name (worker-i) and its own HTTP port (PORT+i: /metrics, /healthz,
the API and dashboard of its users). Ray restarts an actor whose process dies (`max_restarts`):
the new process builds the same worker, resumes from its last snapshot and re-reads its
pending entries from the consumer group, as a restarted `serve` process does — so nothing is
lost and, with the sinks' replay rule, nothing is written twice. A worker whose scoring thread
gives up exits its process so that Ray restarts it too.

File sinks get the worker in their name (scores:S.jsonl → S.w0.jsonl, S.w1.jsonl, ...): one
writer per file. Partitions stay with the worker they were assigned to; STATE/assignment.json
records the assignment, and a different N or P on the same STATE is refused (a worker's state
covers exactly its partitions; moving them would need per-partition snapshots).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from neighborwatch.progress import console
from neighborwatch.scale.cluster import EngineError, connect
from neighborwatch.service.server import ServeOptions

FILE_SINKS = ("jsonl:", "scores:")


def assignment(partitions: int, workers: int) -> list[list[int]]:
    """Partition sets, worker i → [p for p in range(partitions) if p % workers == i]."""
    if workers < 1 or partitions < workers:
        raise EngineError(f"--workers {workers} needs 1 <= workers <= --partitions ({partitions})")
    return [[p for p in range(partitions) if p % workers == i] for i in range(workers)]


def worker_sink(spec: str, index: int) -> str:
    """A file sink renamed for worker `index`; other sinks unchanged."""
    for kind in FILE_SINKS:
        if spec.startswith(kind):
            path = Path(spec[len(kind):])
            return f"{kind}{path.with_name(f'{path.stem}.w{index}{path.suffix}')}"
    return spec


def worker_options(opts: ServeOptions, index: int, parts: list[int]) -> ServeOptions:
    sinks = [worker_sink(s, index) for s in opts.sinks] or [f"jsonl:{Path(opts.state) / f'worker-{index}' / 'alerts.jsonl'}"]
    return replace(opts, state=Path(opts.state) / f"worker-{index}", consumer=f"worker-{index}", only=parts,
                   port=opts.port + index, sinks=sinks)


class LiveWorker:
    """One partition set: its Runtime, and the HTTP app on its own port, in one Ray actor."""

    def __init__(self, opts: ServeOptions, token: str) -> None:
        import uvicorn

        from neighborwatch.service.app import create_app
        from neighborwatch.service.server import build_runtime
        from neighborwatch.streaming.events import TimeRange

        self.opts = opts
        self.resumed = (Path(opts.state) / "snapshots" / "CURRENT").exists()  # build_runtime restores it
        self.runtime, publisher = build_runtime(opts)
        app = create_app(self.runtime, token, publisher, time_range=TimeRange(*opts.years))
        self.server = uvicorn.Server(uvicorn.Config(app, host=opts.host, port=opts.port, log_level="warning",
                                                    access_log=False))
        self.runtime.start()
        threading.Thread(target=self.server.run, name="neighborwatch-http", daemon=True).start()
        threading.Thread(target=self._watch, name="neighborwatch-watchdog", daemon=True).start()

    def _watch(self) -> None:
        while True:
            if self.runtime.failed:  # the scoring thread gave up: let Ray restart the process
                os._exit(3)
            time.sleep(1.0)

    def info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "partitions": self.opts.only, "port": self.opts.port,
                "state": str(self.opts.state), "resumed": self.resumed,
                "counters": dict(self.runtime.engine.counters), "health": self.runtime.health()}

    def stop(self) -> bool:
        self.server.should_exit = True
        self.runtime.stop()
        return True


class LiveCluster:
    """Start, watch and stop the N worker actors (the `serve --engine ray` driver and the tests)."""

    def __init__(self, ray: Any, opts: ServeOptions, workers: int, token: str, max_restarts: int = 10) -> None:
        if not opts.redis:
            raise EngineError("--engine ray serves the Redis streams: give --redis redis://HOST:PORT/DB")
        self.ray = ray
        self.sets = assignment(opts.partitions, workers)
        _check_assignment(Path(opts.state), opts.partitions, self.sets)
        Actor = ray.remote(num_cpus=max(1, opts.threads), max_restarts=max_restarts, max_task_retries=0)(LiveWorker)
        self.actors = [Actor.options(name=f"neighborwatch-worker-{i}").remote(worker_options(opts, i, parts), token)
                       for i, parts in enumerate(self.sets)]

    def info(self, timeout_s: float = 120.0) -> list[dict[str, Any] | None]:
        """Each worker's info; None for one that is restarting or gone."""
        out: list[dict[str, Any] | None] = []
        for a in self.actors:
            try:
                out.append(self.ray.get(a.info.remote(), timeout=timeout_s))
            except (self.ray.exceptions.RayActorError, self.ray.exceptions.GetTimeoutError):
                out.append(None)
        return out

    def stop(self) -> None:
        for a in self.actors:
            try:
                self.ray.get(a.stop.remote(), timeout=30)
            except Exception:  # noqa: BLE001  (a dead worker has nothing to stop)
                pass
            self.ray.kill(a, no_restart=True)


def _check_assignment(state: Path, partitions: int, sets: list[list[int]]) -> None:
    path = state / "assignment.json"
    want = {"partitions": partitions, "workers": sets}
    if path.exists():
        have = json.loads(path.read_text())
        if have != want:
            raise EngineError(f"{state} holds the state of {len(have['workers'])} worker(s) over "
                              f"{have['partitions']} partition(s); serve with the same --workers and "
                              "--partitions, or use a new --state")
    state.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(want) + "\n")


def serve_on_ray(opts: ServeOptions, workers: int, address: str | None = None, max_restarts: int = 10,
                 every_s: float = 10.0) -> None:
    """Run N supervised workers until interrupted; prints their state every `every_s` seconds."""
    import secrets

    token = opts.token or secrets.token_urlsafe(18)
    with connect(address) as ray:
        cluster = LiveCluster(ray, opts, workers, token, max_restarts)
        generated = "" if opts.token else " (token generated)"
        console.print(f"[bold]neighborwatch serving on Ray[/]: {workers} worker(s), partitions {cluster.sets}; "
                      f"token {token}{generated}")
        try:
            while True:
                for i, info in enumerate(cluster.info()):
                    if info is None:
                        console.print(f"worker-{i}: restarting")
                    else:
                        console.print(f"worker-{i}: pid {info['pid']} partitions {info['partitions']} "
                                      f"http://{opts.host}:{info['port']}/metrics · {info['health']}")
                time.sleep(every_s)
        except KeyboardInterrupt:
            pass
        finally:
            cluster.stop()
