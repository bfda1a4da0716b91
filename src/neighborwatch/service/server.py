"""`neighborwatch serve`: build the engine and runtime, resume from the last snapshot, run HTTP.

One process = one worker: it owns the sessions and risks of the users in its partitions. With
Redis, run one `serve` per set of partitions (see docs/streaming.md); each needs its own
`--state` folder and a stable `--consumer` name so that it re-reads its own pending entries
after a crash.

The process lives as long as its worker: if the scoring thread is gone (it gave up on a failing
sink or disk, see `streaming.runtime`), the HTTP server stops and `serve` exits non-zero so that
a supervisor (systemd, Kubernetes) restarts it, and the restart resumes from the last snapshot.
The token is printed once, in the start-up line; uvicorn's access log (which would carry the
`?token=` of the dashboard and SSE URLs) is off, and a filter scrubs it from any other record.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from neighborwatch.progress import console


@dataclass
class ServeOptions:
    model: Path
    work: Path | None = None
    redis: str | None = None
    host: str = "127.0.0.1"
    port: int = 8750
    token: str | None = None
    sinks: list[str] = field(default_factory=list)
    state: Path = Path("neighborwatch-live")
    partitions: int = 1
    only: list[int] | None = None
    prefix: str | None = None
    consumer: str = "worker-0"
    budget_per_day: float = 5.0
    half_life_h: float = 24.0
    thresholds: Path | None = None
    window_s: float = 5.0
    max_hold_s: float = 1.0
    snapshot_every_s: float = 5.0
    queue: int = 100_000
    batch: int = 1024
    threads: int = 1
    years: tuple[int, int] = (1970, 2099)  # event times accepted at intake (first, last year)
    max_deliveries: int = 5  # Redis deliveries of one entry before it is dead-lettered
    max_sessions: int = 100_000  # open sessions kept (LRU beyond)
    idle_session_s: float = 0.0  # close sessions idle this long in event time (0 = never)


def build_runtime(opts: ServeOptions):
    """(runtime, publisher) ready to start; the runtime has resumed from its last snapshot."""
    import torch

    from neighborwatch.streaming.alerts import Thresholds
    from neighborwatch.streaming.collector import settle_for_streaming
    from neighborwatch.streaming.engine import EngineConfig
    from neighborwatch.streaming.events import TimeRange
    from neighborwatch.streaming.loader import build_engine
    from neighborwatch.streaming.runtime import Runtime
    from neighborwatch.streaming.sinks import JsonlSink, parse_sink
    from neighborwatch.streaming.sources import DEFAULT_PREFIX, MemorySource, RedisPublisher, RedisSource

    torch.set_num_threads(max(1, opts.threads))  # small batches: extra threads only contend
    state = Path(opts.state)
    state.mkdir(parents=True, exist_ok=True)
    cached = state / "thresholds.json"
    thresholds: Thresholds | Path | None = opts.thresholds
    if thresholds is None and cached.exists():
        thresholds = cached
    engine = build_engine(
        opts.model,
        opts.work,
        budget_per_day=opts.budget_per_day,
        half_life_s=opts.half_life_h * 3600.0,
        thresholds=thresholds,
        config=EngineConfig(
            window_s=opts.window_s,
            max_hold_s=opts.max_hold_s,
            max_open_sessions=opts.max_sessions,
            idle_session_s=opts.idle_session_s,
        ),
    )
    engine.thresholds.save(cached)
    prefix = opts.prefix or DEFAULT_PREFIX
    source: RedisSource | MemorySource
    if opts.redis:
        source = RedisSource(
            opts.redis,
            prefix,
            opts.partitions,
            opts.only,
            consumer=opts.consumer,
            max_deliveries=opts.max_deliveries,
            time_range=TimeRange(*opts.years),
        )
        publisher = RedisPublisher(opts.redis, prefix, opts.partitions, max_pending=opts.queue)
    else:
        source, publisher = MemorySource(opts.queue), None
    sinks = [parse_sink(s) for s in opts.sinks] or [JsonlSink(state / "alerts.jsonl", "alerts")]
    runtime = Runtime(engine, source, sinks, state, snapshot_every_s=opts.snapshot_every_s, batch=opts.batch)
    runtime.restore()
    settle_for_streaming()  # the model and the restored state live as long as the worker
    return runtime, publisher


class RedactToken(logging.Filter):
    """Scrubs `token=...` and bearer values from log records (the start-up line is printed, not logged)."""

    _pattern = re.compile(r"(token=|[Bb]earer )[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if "oken=" in msg or "earer " in msg:
            record.msg, record.args = self._pattern.sub(r"\1<redacted>", msg), None
        return True


def watch_worker(runtime, server, every_s: float = 1.0) -> threading.Thread:
    """Stop the HTTP server once the worker is gone, so the process exits (non-zero, see serve)."""

    def loop() -> None:
        while not server.should_exit:
            if runtime.failed:
                logging.getLogger("neighborwatch.serve").error("scoring worker is gone (%r); exiting", runtime.error)
                server.should_exit = True
                return
            threading.Event().wait(every_s)

    t = threading.Thread(target=loop, name="neighborwatch-watchdog", daemon=True)
    t.start()
    return t


def serve(opts: ServeOptions) -> None:
    import uvicorn

    from neighborwatch.service.app import create_app
    from neighborwatch.streaming.events import TimeRange

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactToken())
    token = opts.token or secrets.token_urlsafe(18)
    runtime, publisher = build_runtime(opts)
    app = create_app(runtime, token, publisher, time_range=TimeRange(*opts.years))
    th = runtime.engine.thresholds
    console.print(
        f"[bold]neighborwatch serving[/] model {opts.model} · thresholds: activity {th.activity:.4f}, "
        f"risk {th.risk:.3f} ({th.calibrated_on})"
    )
    generated = "" if opts.token else " (token generated)"
    console.print(f"dashboard: http://{opts.host}:{opts.port}/dashboard?token={token}{generated}")
    runtime.start()
    server = uvicorn.Server(uvicorn.Config(app, host=opts.host, port=opts.port, log_level="warning", access_log=False))
    watch_worker(runtime, server)
    try:
        server.run()
    finally:
        runtime.stop()
    if runtime.failed:
        raise SystemExit(3)
