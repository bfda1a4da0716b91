"""`neighborwatch serve ... --redis URL --engine ray --workers N`: supervised live workers.

Live scoring is already partitioned by user over Redis streams (PREFIX:0..P-1, one consumer
group). Here the unit of state is the partition: partition p has its own `Runtime` with its
own state folder (STATE/partition-p: snapshots, alerts database), a stable consumer name
(partition-p), its own file sinks (scores:S.jsonl → S.p<p>.jsonl) and its own HTTP port
(PORT+p: /metrics, /healthz, the API and dashboard of its users). A worker is a Ray actor that
runs the runtimes of partitions {p : p mod N = i}. So:

* Ray restarts an actor whose process dies (`max_restarts`); the new process builds the same
  runtimes, each resumes from its last snapshot and re-reads its pending entries from the
  consumer group, as a restarted `serve` process does — nothing is lost and, with the sinks'
  replay rule, nothing is written twice. A runtime whose scoring thread gives up exits its
  process so that Ray restarts it too.
* Changing N re-assigns whole partitions: a partition's snapshot, pending entries and sink
  files move with it to its new worker. Changing P moves users between partitions and is
  refused on the same STATE (STATE/partitions.json records it): drain and start fresh.
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


def partition_sink(spec: str, partition: int) -> str:
    """A file sink renamed for `partition` (one writer per file); other sinks unchanged."""
    for kind in FILE_SINKS:
        if spec.startswith(kind):
            path = Path(spec[len(kind) :])
            return f"{kind}{path.with_name(f'{path.stem}.p{partition}{path.suffix}')}"
    return spec


def partition_options(opts: ServeOptions, partition: int) -> ServeOptions:
    state = Path(opts.state) / f"partition-{partition}"
    sinks = [partition_sink(s, partition) for s in opts.sinks] or [f"jsonl:{state / 'alerts.jsonl'}"]
    return replace(
        opts, state=state, consumer=f"partition-{partition}", only=[partition], port=opts.port + partition, sinks=sinks
    )


class LiveWorker:
    """The runtimes (and HTTP apps) of one set of partitions, in one Ray actor."""

    def __init__(self, opts: ServeOptions, partitions: list[int], token: str) -> None:
        import uvicorn

        from neighborwatch.service.app import create_app
        from neighborwatch.service.server import build_runtime
        from neighborwatch.streaming.events import TimeRange

        self.partitions = partitions
        self.runtimes, self.servers, self.resumed = {}, [], {}
        for p in partitions:
            popts = partition_options(opts, p)
            # build_runtime restores the snapshot, if there is one
            self.resumed[p] = (Path(popts.state) / "snapshots" / "CURRENT").exists()
            runtime, publisher = build_runtime(popts)
            app = create_app(runtime, token, publisher, time_range=TimeRange(*opts.years))
            server = uvicorn.Server(
                uvicorn.Config(app, host=opts.host, port=popts.port, log_level="warning", access_log=False)
            )
            runtime.start()
            threading.Thread(target=server.run, name=f"neighborwatch-http-{p}", daemon=True).start()
            self.runtimes[p] = runtime
            self.servers.append(server)
        self.ports = {p: opts.port + p for p in partitions}
        threading.Thread(target=self._watch, name="neighborwatch-watchdog", daemon=True).start()

    def _watch(self) -> None:
        while True:
            if any(r.failed for r in self.runtimes.values()):  # a scoring thread gave up: restart the process
                os._exit(3)
            time.sleep(1.0)

    def info(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "partitions": self.partitions,
            "ports": self.ports,
            "resumed": self.resumed,
            "counters": {p: dict(r.engine.counters) for p, r in self.runtimes.items()},
            "health": {p: r.health()["status"] for p, r in self.runtimes.items()},
        }

    def stop(self) -> bool:
        for server in self.servers:
            server.should_exit = True
        for runtime in self.runtimes.values():
            runtime.stop()
        return True


class LiveCluster:
    """Start, watch and stop the N worker actors (the `serve --engine ray` driver and the tests)."""

    def __init__(self, ray: Any, opts: ServeOptions, workers: int, token: str, max_restarts: int = 10) -> None:
        self.ray = ray
        self.sets = plan(opts, workers)
        Actor = ray.remote(max_restarts=max_restarts, max_task_retries=0)(LiveWorker)
        # each partition's runtime is one scoring thread with --threads torch threads
        self.actors = [
            Actor.options(name=f"neighborwatch-worker-{i}", num_cpus=max(1, opts.threads) * len(parts)).remote(
                opts, parts, token
            )
            for i, parts in enumerate(self.sets)
        ]

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
            except (self.ray.exceptions.RayError, TimeoutError) as e:  # a dead worker has nothing to stop
                console.print(f"a worker could not stop cleanly: {type(e).__name__}")
            self.ray.kill(a, no_restart=True)


def plan(opts: ServeOptions, workers: int) -> list[list[int]]:
    """The partition sets; the partition count is checked against STATE/partitions.json."""
    if not opts.redis:
        raise EngineError("--engine ray serves the Redis streams: give --redis redis://HOST:PORT/DB")
    sets = assignment(opts.partitions, workers)
    state = Path(opts.state)
    path = state / "partitions.json"
    if path.exists():
        have = json.loads(path.read_text())["partitions"]
        if have != opts.partitions:
            raise EngineError(
                f"{state} holds the state of {have} partition(s), not {opts.partitions}: "
                f"serve with --partitions {have}, or drain and use a new --state"
            )
    state.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"partitions": opts.partitions}) + "\n")
    return sets


def serve_on_ray(
    opts: ServeOptions, workers: int, address: str | None = None, max_restarts: int = 10, every_s: float = 10.0
) -> None:
    """Run N supervised workers until interrupted; prints their state every `every_s` seconds."""
    import secrets

    plan(opts, workers)  # a user error fails before Ray starts
    token = opts.token or secrets.token_urlsafe(18)
    with connect(address) as ray:
        cluster = LiveCluster(ray, opts, workers, token, max_restarts)
        generated = "" if opts.token else " (token generated)"
        console.print(
            f"[bold]neighborwatch serving on Ray[/]: {workers} worker(s), "
            f"partitions {cluster.sets}; "
            f"token {token}{generated}"
        )
        try:
            while True:
                for i, info in enumerate(cluster.info()):
                    if info is None:
                        console.print(f"worker-{i}: restarting")
                    else:
                        urls = " ".join(f"http://{opts.host}:{port}/metrics" for port in info["ports"].values())
                        console.print(
                            f"worker-{i}: pid {info['pid']} partitions {info['partitions']} {info['health']} · {urls}"
                        )
                time.sleep(every_s)
        except KeyboardInterrupt:
            pass
        finally:
            cluster.stop()
