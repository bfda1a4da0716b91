"""Drives an engine from a source to sinks, with snapshots that make a crash lose nothing.

The loop: poll a bounded batch → engine.submit → sinks / alert store / subscribers. Every
`snapshot_every_s` it flushes the file sinks, writes a snapshot (engine state + sink offsets),
and only then acknowledges to the source every event submitted so far. After a crash, `restore`
loads the last snapshot and truncates file sinks to its offsets; the source redelivers whatever
was not acknowledged, which the restored dedup set filters, and the rest is scored again exactly
as before — so each accepted event appears exactly once in a `scores:` file.

Alerts: the snapshot also records how many alerts the alert database held. The database keeps
what happened after the snapshot (it ignores repeats), so the restart re-emits every alert it
holds beyond that count to the sinks, and the re-scored events' repeats are not sent again: each
file sink then holds every alert exactly once.

Faults: an event the engine cannot process becomes a dead-letter entry (`STATE/dead-letter.jsonl`,
rolled back with the snapshots like a file sink, and the source's dead-letter stream if it has
one), acknowledged and counted — the worker goes on. A failing source (Redis away) is retried
with back-off. A failure after the engine took a batch in (a sink, the disk) stops the worker:
`/healthz` turns 503, `serve` exits non-zero, and the restart resumes exactly from the snapshot.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neighborwatch.streaming import snapshot
from neighborwatch.streaming.alerts import AlertStore
from neighborwatch.streaming.engine import Engine, EngineOutput, dead_letter
from neighborwatch.streaming.events import LiveEvent, us_to_iso
from neighborwatch.streaming.metrics import Metrics
from neighborwatch.streaming.sinks import JsonlSink, Sink

log = logging.getLogger("neighborwatch.runtime")


class Runtime:
    def __init__(
        self,
        engine: Engine,
        source: Any,
        sinks: list[Sink],
        state_dir: str | Path,
        alerts: AlertStore | None = None,
        snapshot_every_s: float = 5.0,
        batch: int = 1024,
        poll_block_s: float = 0.05,
        max_buffered: int = 200_000,
        source_retry_s: float = 60.0,
    ) -> None:
        self.engine, self.source, self.sinks = engine, source, sinks
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.alerts = alerts if alerts is not None else AlertStore(self.state_dir / "alerts.sqlite")
        self.snapshot_every_s, self.batch, self.poll_block_s = snapshot_every_s, batch, poll_block_s
        self.max_buffered = max_buffered
        self.source_retry_s = source_retry_s  # a source failing this long stops the worker
        self.dead_letters = JsonlSink(self.state_dir / "dead-letter.jsonl", "dead-letter")
        self.metrics = Metrics()
        self.lock = threading.RLock()  # held while the engine changes; readers take it too
        self.subscribers: list[Callable[[list[dict[str, Any]]], None]] = []
        self._pending_acks: list[Any] = []
        self._last_snapshot = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._taken_in = False  # whether the current step reached the engine
        self.error: BaseException | None = None
        self.metrics.gauges["queue_depth"] = lambda: float(getattr(self.source, "depth", 0) or 0)
        self.metrics.gauges["ordering_buffer"] = lambda: float(self.engine.buffered)
        self.metrics.gauges["open_sessions"] = lambda: float(len(self.engine.sessions.open))

        def evicted(why: str) -> float:
            return float(self.engine.counters.get(f"evicted_{why}", 0))

        for why in ("idle", "lru"):  # sessions closed to keep state bounded, not by their events
            self.metrics.gauges[f"sessions_evicted_{why}"] = functools.partial(evicted, why)

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
            for s in [*self.sinks, self.dead_letters]:
                if s.name in offsets and offsets[s.name] is not None:
                    s.truncate(int(offsets[s.name]))
            self._reemit_alerts_after(int(extra.get("alerts_total", 0)))
            log.info("resumed from snapshot: %d open sessions", len(self.engine.sessions.open))
            return True

    def _reemit_alerts_after(self, alerts_at_snapshot: int) -> None:
        """Send the sinks every alert the database gained after the snapshot, oldest first, as
        it was raised (the truncated files lack them; re-scoring will not raise them as new)."""
        total, _ = self.alerts.query(limit=1)
        missing = total - alerts_at_snapshot
        if missing <= 0:
            return
        _, newest_first = self.alerts.query(limit=missing)
        alerts = [dict(a, status="open") for a in reversed(newest_first)]
        for a in alerts:
            a.pop("note", None)  # an analyst's later note is not part of the alert as raised
        for s in self.sinks:
            s.write_alerts(alerts)
        log.info("re-emitted %d alerts raised after the snapshot", len(alerts))

    # -- one iteration -----------------------------------------------------------------------
    def step(self) -> int:
        """Poll once and process; returns the number of events polled."""
        room = self.max_buffered - self.engine.buffered
        events, bad = self.source.poll(max(1, min(self.batch, room)), self.poll_block_s) if room > 0 else ([], [])
        with self.lock:
            self._taken_in = True
            out = self._submit(events)
            self._pending_acks += [e.ack for e in events] + [b.ack for b in bad]
            if bad:
                out.records += [{"event_id": None, "status": "rejected", "error": b.error, "raw": b.raw} for b in bad]
                out.dead += [dead_letter(None, "intake", b.error, raw=b.raw) for b in bad]
            self._emit(out)
            if time.monotonic() - self._last_snapshot >= self.snapshot_every_s:
                self.snapshot()
        return len(events) + len(bad)

    def _submit(self, events: list[LiveEvent]) -> EngineOutput:
        """engine.submit; what it could not isolate to one event dead-letters this poll's events."""
        try:
            return self.engine.submit(events) if events else self.engine.release()
        except Exception as e:  # noqa: BLE001 — the worker never dies on its input
            log.exception("engine failed on a batch of %d events; dead-lettered", len(events))
            return EngineOutput(
                records=[{"event_id": ev.event_id, "status": "failed", "error": str(e)[:500]} for ev in events],
                dead=[dead_letter(ev, "engine", e) for ev in events],
            )

    def _emit(self, out: EngineOutput) -> None:
        if out.dead:
            self.dead_letters.write_dead_letters(out.dead)
            publish = getattr(self.source, "dead_letter", None)
            if publish is not None:
                try:
                    publish(out.dead)
                except Exception:  # noqa: BLE001 — the file keeps them; the stream is a copy
                    log.exception("could not publish %d dead-letter entries", len(out.dead))
            self.metrics.observe_dead([d["stage"] for d in out.dead])
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
            for s in [*self.sinks, self.dead_letters]:
                s.flush()
            offsets = {s.name: s.offset() for s in [*self.sinks, self.dead_letters]}
            total_alerts, _ = self.alerts.query(limit=1)
            snapshot.save(self.engine, self.snapshot_dir, extra={"sinks": offsets, "alerts_total": total_alerts})
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
        failing_since: float | None = None
        try:
            while not self._stop.is_set():
                self._taken_in = False
                try:
                    self.step()
                    failing_since = None
                except Exception:
                    # before the engine took anything in (the source failed): retry with back-off;
                    # after it did (a sink, the disk): stop, the restart resumes from the snapshot
                    now = time.monotonic()
                    failing_since = failing_since or now
                    self.metrics.worker_errors += 1
                    if self._taken_in or now - failing_since > self.source_retry_s:
                        raise
                    log.exception("source failed; retrying")
                    self._stop.wait(min(5.0, 0.1 + (now - failing_since) / 4))
        except BaseException as e:  # noqa: BLE001 — surfaced through /healthz
            self.error = e
            log.exception("runtime stopped")
            raise
        finally:
            if self.error is None:  # after a failure the state may be ahead of the sinks: keep the last
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
        for s in [*self.sinks, self.dead_letters]:
            s.close()
        self.source.close()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- queries (what the service reads; it never reaches into the engine) ------------------
    @property
    def failed(self) -> bool:
        """The worker was started and is gone (crashed or gave up): the process should exit."""
        return (
            self._thread is not None
            and not self._thread.is_alive()
            and not self._stop.is_set()
            or (self.error is not None)
        )

    def health(self) -> dict[str, Any]:
        return {
            "status": "error" if self.failed else "ok",
            "worker_alive": self.alive,
            "error": None if self.error is None else repr(self.error)[:500],
            "dead_letters": sum(self.metrics.dead_letters.values()),
        }

    def enqueue(self, events: list[LiveEvent]) -> None:
        """Hand events to an in-memory source (Backpressure when it is full)."""
        self.source.put_batch(events)

    def thresholds(self) -> dict[str, Any]:
        return self.engine.thresholds.to_json()

    def top_users(self, limit: int) -> dict[str, Any]:
        with self.lock:
            eng = self.engine
            now = eng.released_us
            rows: list[dict[str, Any]] = [
                {"user": k, "risk": round(eng.risk.decayed(k, now), 6), "events": u.events, "alerts": u.alerts}
                for k, u in eng.risk.users.items()
            ]
        rows.sort(key=lambda r: -r["risk"])
        return {"users": rows[:limit], "total": len(rows)}

    def user(self, user_id: str, points: int) -> dict[str, Any] | None:
        """Risk now, counts, open sessions and the (score, risk) timeline of one user; None if unseen."""
        with self.lock:
            eng = self.engine
            u = eng.risk.users.get(user_id)
            if u is None:
                return None
            timeline = [{"time": us_to_iso(t), "score": s, "risk": r} for t, s, r in list(u.timeline)[-points:]]
            sessions = [
                {"session": s.session_id, "host": s.host, "start": us_to_iso(s.start_us), "activities": s.length}
                for (usr, _), s in eng.sessions.open.items()
                if usr == user_id
            ]
            risk_now = eng.risk.decayed(user_id, eng.released_us)
        _, alerts = self.alerts.query(user=user_id, limit=50)
        return {
            "user": user_id,
            "risk": round(risk_now, 6),
            "risk_at_last_event": round(u.risk, 6),
            "events": u.events,
            "alerts": alerts,
            "open_sessions": sessions,
            "timeline": timeline,
        }
