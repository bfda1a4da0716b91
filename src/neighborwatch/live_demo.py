"""The demo's live step: serve the trained model, replay the test period, show what was caught.

`run_live_demo(model_dir, work)` starts the service in this process (HTTP on loopback), replays
the WORK's test period into it over HTTP as a live stream, prints the dashboard URL and the
incidents raised, riskiest first — marked against the ground truth, which only this demo reads
(the service never does) — and keeps serving until Ctrl-C (or stops, for scripts).
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


def run_live_demo(
    model_dir: str | Path,
    work: str | Path,
    port: int | None = None,
    speed: float = 0.0,
    token: str | None = None,
    budget_per_day: float = 5.0,
    keep_running: bool = False,
    state: str | Path | None = None,
    show: int = 10,
) -> dict[str, Any]:
    """Serve `model_dir`, replay the test period of `work`, report the alerts; returns a summary."""
    import uvicorn

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
    opts = ServeOptions(
        model=Path(model_dir),
        work=work,
        port=port,
        token=token,
        state=state,
        budget_per_day=budget_per_day,
        max_hold_s=0.2,
    )
    runtime, _ = build_runtime(opts)
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime, token), host="127.0.0.1", port=port, log_level="warning")
    )
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
    console.print(
        f"thresholds ({th.calibrated_on}): activity ≥ {th.activity:.4f}, risk ≥ {th.risk:.3f}, "
        f"budget {budget_per_day:g} incidents per 100 users per day"
    )
    sent: dict[str, Any] = {"events": 0}
    summary: dict[str, Any] = {}
    try:
        console.print(f"$ neighborwatch replay {work} --to {url} --speed {speed:g}")
        sent = replay(work, url, speed=speed, split="test", token=token)
        _wait_scored(runtime, sent["events"])
        summary = _print_incidents(runtime, work, sent["events"], show)
        console.print(
            f"\n[bold]Triage the incidents:[/] {url}/dashboard?token={token}\n"
            f"API: curl -H 'Authorization: Bearer {token}' {url}/incidents"
        )
        if keep_running:
            console.print("serving until Ctrl-C")
            while True:
                time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        thread.join(10)
        runtime.stop()
    return {"url": f"{url}/dashboard?token={token}", "events": sent["events"], "state": str(state), **summary}


def _wait_scored(runtime: Any, sent: int, timeout_s: float = 300.0) -> None:
    """Until every replayed event has been released and scored (the summary must count them all)."""
    end = time.time() + timeout_s
    while time.time() < end:
        with runtime.lock:  # the worker scores and stores under this lock
            c = runtime.engine.counters
            done = sum(c.get(k, 0) for k in ("scored", "first", "repeat", "rejected"))
            if not runtime.engine.buffered and c["accepted"] + c["duplicate"] >= sent and done >= c["accepted"]:
                return
        time.sleep(0.1)
    console.print("[yellow]the service is still scoring; the summary below is partial[/]")


def _print_incidents(runtime: Any, work: Path, events: int, show: int) -> dict[str, Any]:
    """The incidents table, riskiest first, each marked when it holds an insider's malicious activity."""
    from rich.console import JustifyMethod
    from rich.table import Table

    from neighborwatch.streaming.events import us_to_iso

    bad = _malicious_ids(work)
    n_alerts, _ = runtime.alerts.query(limit=1)
    total, incidents = runtime.alerts.query_incidents(limit=100_000, order="peak")
    with runtime.lock:  # the live tracker lists every contributing activity
        live = {i: runtime.engine.incidents.incidents.get(i) for i in (x["incident_id"] for x in incidents)}
    on_insider = []
    for inc in incidents:
        full = live.get(inc["incident_id"])
        ids = {a["event_id"] for a in (full.activities if full else inc["drivers"])}
        on_insider.append(bool(ids & bad))
    insiders = sorted({inc["user"] for inc, hit in zip(incidents, on_insider) if hit})
    table = Table(
        title=f"{total} incidents ({n_alerts} alerts) on {events} test events: "
        f"{sum(on_insider)} on malicious activity, insiders caught: {', '.join(insiders) or 'none'}"
    )
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("#", "right"),
        ("user", "left"),
        ("start", "left"),
        ("hours", "right"),
        ("acts", "right"),
        ("peak", "right"),
        ("driven by", "left"),
        ("truth", "left"),
    )
    for col, justify in columns:
        table.add_column(col, justify=justify, no_wrap=col != "driven by")
    for rank, (inc, hit) in enumerate(zip(incidents[:show], on_insider), 1):
        top = (inc["drivers"][:1] or [{}])[0].get("raw") or {}
        table.add_row(
            str(rank),
            inc["user"],
            us_to_iso(inc["start_us"])[5:16].replace("T", " "),
            f"{(inc['end_us'] - inc['start_us']) / 3.6e9:.1f}",
            str(inc["n_activities"]),
            f"{inc['peak_risk']:.1f}",
            f"{top.get('source', '?')}/{top.get('action', '?')}",
            "[red]insider[/]" if hit else "",
        )
    console.print(table)
    return {
        "alerts": n_alerts,
        "incidents": total,
        "incidents_on_insiders": sum(on_insider),
        "insiders_caught": insiders,
    }
