"""Drives an engine from a source to sinks, with snapshots that make a crash lose nothing.

The loop: poll a bounded batch → engine.submit → sinks / alert store / subscribers. Every
`snapshot_every_s` it flushes the file sinks, writes a snapshot (engine state + sink offsets),
and only then acknowledges to the source every event submitted so far. After a crash, `restore`
loads the last snapshot and truncates file sinks to its offsets; the source redelivers whatever
was not acknowledged, which the restored dedup set filters, and the rest is scored again exactly
as before — so each accepted event appears exactly once in a `scores:` file.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable

from neighborwatch.streaming import snapshot
from neighborwatch.streaming.alerts import AlertStore
from neighborwatch.streaming.engine import Engine, EngineOutput
from neighborwatch.streaming.metrics import Metrics
from neighborwatch.streaming.sinks import Sink

log = logging.getLogger("neighborwatch.runtime")


class Runtime:
    def __init__(self, engine: Engine, source: Any, sinks: list[Sink], state_dir: str | Path,
                 alerts: AlertStore | None = None, snapshot_every_s: float = 5.0, batch: int = 1024,
                 poll_block_s: float = 0.05, max_buffered: int = 200_000) -> None:
        self.engine, self.source, self.sinks = engine, source, sinks
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.alerts = alerts if alerts is not None else AlertStore(self.state_dir / "alerts.sqlite")
        self.snapshot_every_s, self.batch, self.poll_block_s = snapshot_every_s, batch, poll_block_s
        self.max_buffered = max_buffered
        self.metrics = Metrics()
        self.lock = threading.RLock()  # held while the engine changes; readers take it too
        self.subscribers: list[Callable[[list[dict[str, Any]]], None]] = []
        self._pending_acks: list[Any] = []
        self._last_snapshot = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.metrics.gauges["queue_depth"] = lambda: float(getattr(self.source, "depth", 0) or 0)
        self.metrics.gauges["ordering_buffer"] = lambda: float(self.engine.buffered)
        self.metrics.gauges["open_sessions"] = lambda: float(len(self.engine.sessions.open))

    @property
    def snapshot_dir(self) -> Path:
        return self.state_dir / "snapshots"

    def restore(self) -> bool:
        """Resume from the latest snapshot, if any; returns whether one was loaded."""
        with self.lock:
            extra = snapshot.load(self.engine, self.snapshot_dir)
            if extra is None:
                # a first snapshot pins the sinks' starting offsets, so that a crash before the
                # next one still rolls the files back to where this run began
                self.snapshot()
                return False
            offsets = extra.get("sinks", {})
            for s in self.sinks:
                if s.name in offsets and offsets[s.name] is not None:
                    s.truncate(int(offsets[s.name]))
            log.info("resumed from snapshot: %d open sessions", len(self.engine.sessions.open))
            return True

    # -- one iteration -----------------------------------------------------------------------
    def step(self) -> int:
        """Poll once and process; returns the number of events polled."""
        room = self.max_buffered - self.engine.buffered
        events, bad = self.source.poll(max(1, min(self.batch, room)), self.poll_block_s) if room > 0 else ([], [])
        with self.lock:
            out = self.engine.submit(events) if events else self.engine.release()
            self._pending_acks += [e.ack for e in events] + [b.ack for b in bad]
            if bad:
                out.records += [{"event_id": None, "status": "rejected", "error": b.error, "raw": b.raw} for b in bad]
            self._emit(out)
            if time.monotonic() - self._last_snapshot >= self.snapshot_every_s:
                self.snapshot()
        return len(events) + len(bad)

    def _emit(self, out: EngineOutput) -> None:
        if out.records:
            for s in self.sinks:
                s.write_records(out.records)
        new_alerts = [a for a in out.alerts if self.alerts.add(a)]
        if new_alerts:
            for s in self.sinks:
                s.write_alerts(new_alerts)
            for fn in list(self.subscribers):
                try:
                    fn(new_alerts)
                except Exception:  # noqa: BLE001 — a broken listener must not stop scoring
                    log.exception("alert subscriber failed")
        self.metrics.observe([r["status"] for r in out.records], out.latencies, [a["kind"] for a in out.alerts])

    def snapshot(self) -> None:
        with self.lock:
            for s in self.sinks:
                s.flush()
            offsets = {s.name: s.offset() for s in self.sinks}
            snapshot.save(self.engine, self.snapshot_dir, extra={"sinks": offsets})
            if self._pending_acks:
                self.source.ack(self._pending_acks)
                self._pending_acks = []
            self._last_snapshot = time.monotonic()
            self.metrics.snapshots += 1

    def drain(self) -> None:
        """Process everything still buffered (end of a replay, or shutdown on request)."""
        with self.lock:
            self._emit(self.engine.flush())

    # -- background thread -------------------------------------------------------------------
    def run(self) -> None:
        try:
            while not self._stop.is_set():
                self.step()
        except BaseException as e:  # noqa: BLE001 — surfaced through /healthz
            self.error = e
            log.exception("runtime stopped")
            raise
        finally:
            try:
                self.snapshot()
            except Exception:  # noqa: BLE001
                log.exception("final snapshot failed")

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="neighborwatch-runtime", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for s in self.sinks:
            s.close()
        self.source.close()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
