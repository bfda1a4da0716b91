"""The demo's live step: serve the trained model, replay the test period, show what was caught.

`run_live_demo(model_dir, work)` starts the service in this process (HTTP on loopback), replays
the WORK's test period into it over HTTP as a live stream, prints the dashboard URL and the
alerts raised — marked against the ground truth, which only this demo reads (the service never
does) — and either stops or keeps serving until Ctrl-C.
"""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import Any

from neighborwatch.progress import console


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _malicious_ids(work: Path) -> set[str]:
    import polars as pl

    from neighborwatch.workdir import WorkDir

    w = WorkDir(work)
    if not w.labels.exists():
        return set()
    return set(pl.read_parquet(w.labels).filter(pl.col("malicious"))["event_id"].to_list())


def run_live_demo(model_dir: str | Path, work: str | Path, port: int | None = None, speed: float = 0.0,
                  token: str | None = None, budget_per_day: float = 5.0, keep_running: bool = False,
                  state: str | Path | None = None, show: int = 10) -> dict[str, Any]:
    """Serve `model_dir`, replay the test period of `work`, report the alerts; returns a summary."""
    import uvicorn
    from rich.table import Table

    from neighborwatch.replay import replay
    from neighborwatch.service.app import create_app
    from neighborwatch.service.server import ServeOptions, build_runtime

    work = Path(work)
    token = token or secrets.token_urlsafe(12)
    port = port or _free_port()
    state = Path(state) if state is not None else work / "live"
    if state.exists() and state == work / "live":
        import shutil

        shutil.rmtree(state)  # the demo's own folder: a rerun replays into a fresh detector
    opts = ServeOptions(model=Path(model_dir), work=work, port=port, token=token, state=state,
                        budget_per_day=budget_per_day, max_hold_s=0.2)
    runtime, _ = build_runtime(opts)
    server = uvicorn.Server(uvicorn.Config(create_app(runtime, token), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    runtime.start()
    thread.start()
    while not server.started:
        if not thread.is_alive():
            runtime.stop()
            raise RuntimeError(f"the service could not start on port {port}")
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    console.print(f"[bold]dashboard:[/] {url}/dashboard?token={token}")
    th = runtime.engine.thresholds
    console.print(f"thresholds ({th.calibrated_on}): activity ≥ {th.activity:.4f}, risk ≥ {th.risk:.3f}, "
                  f"budget {budget_per_day:g} alerts/day each")
    try:
        console.print(f"$ neighborwatch replay {work} --to {url} --speed {speed:g}")
        sent = replay(work, url, speed=speed, split="test", token=token)
        end = time.time() + 120
        while time.time() < end and (runtime.source.depth or runtime.engine.buffered):
            time.sleep(0.1)
        time.sleep(0.5)
        total, alerts = runtime.alerts.query(limit=10_000)
        bad = _malicious_ids(work)
        caught = [a for a in alerts if a["event_id"] in bad or any(e.get("event_id") in bad
                                                                    for e in a["reasons"]["events"][-1:])]
        insiders = sorted({a["user"] for a in caught})
        table = Table(title=f"{total} alerts on {sent['events']} test events "
                            f"({len(caught)} on malicious activity, insiders caught: {', '.join(insiders) or 'none'})")
        for col in ("time", "kind", "user", "host", "why", "score", "risk", "truth"):
            table.add_column(col)
        ranked = sorted(alerts, key=lambda a: (-a["score"] if a["kind"] == "activity" else -a["risk"]))
        for a in ranked[:show]:
            table.add_row(a["time"], a["kind"], a["user"], a["host"], a["summary"], f"{a['score']:.4f}",
                          f"{a['risk']:.2f}", "[red]malicious[/]" if a in caught else "")
        console.print(table)
        if keep_running:
            console.print("serving; press Ctrl-C to stop")
            while True:
                time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        thread.join(10)
        runtime.stop()
    return {"url": f"{url}/dashboard?token={token}", "events": sent["events"], "alerts": total,
            "malicious_alerts": len(caught), "insiders_caught": insiders, "state": str(state)}
