"""`neighborwatch serve`: build the engine and runtime, resume from the last snapshot, run HTTP.

One process = one worker: it owns the sessions and risks of the users in its partitions. With
Redis, run one `serve` per set of partitions (see docs/streaming.md); each needs its own
`--state` folder and a stable `--consumer` name so that it re-reads its own pending entries
after a crash.
"""

from __future__ import annotations

import logging
import secrets
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


def build_runtime(opts: ServeOptions):
    """(runtime, publisher) ready to start; the runtime has resumed from its last snapshot."""
    import torch

    from neighborwatch.streaming.alerts import Thresholds
    from neighborwatch.streaming.engine import EngineConfig
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
    engine = build_engine(opts.model, opts.work, budget_per_day=opts.budget_per_day,
                          half_life_s=opts.half_life_h * 3600.0, thresholds=thresholds,
                          config=EngineConfig(window_s=opts.window_s, max_hold_s=opts.max_hold_s))
    engine.thresholds.save(cached)
    prefix = opts.prefix or DEFAULT_PREFIX
    if opts.redis:
        source = RedisSource(opts.redis, prefix, opts.partitions, opts.only, consumer=opts.consumer)
        publisher = RedisPublisher(opts.redis, prefix, opts.partitions, max_pending=opts.queue)
    else:
        source, publisher = MemorySource(opts.queue), None
    sinks = [parse_sink(s) for s in opts.sinks] or [JsonlSink(state / "alerts.jsonl", "alerts")]
    runtime = Runtime(engine, source, sinks, state, snapshot_every_s=opts.snapshot_every_s, batch=opts.batch)
    runtime.restore()
    return runtime, publisher


def serve(opts: ServeOptions) -> None:
    import uvicorn

    from neighborwatch.service.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = opts.token or secrets.token_urlsafe(18)
    runtime, publisher = build_runtime(opts)
    app = create_app(runtime, token, publisher)
    th = runtime.engine.thresholds
    console.print(f"[bold]neighborwatch serving[/] model {opts.model} · thresholds: activity {th.activity:.4f}, "
                  f"risk {th.risk:.3f} ({th.calibrated_on})")
    console.print(f"dashboard: http://{opts.host}:{opts.port}/dashboard?token={token}")
    if not opts.token:
        console.print(f"API token (generated): {token}")
    runtime.start()
    try:
        uvicorn.run(app, host=opts.host, port=opts.port, log_level="warning")
    finally:
        runtime.stop()
