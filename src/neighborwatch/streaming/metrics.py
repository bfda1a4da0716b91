"""Service metrics in the Prometheus text format (hand-written: a few counters and a histogram)."""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from collections.abc import Callable

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: Counter[str] = Counter()  # by record status
        self.alerts: Counter[str] = Counter()  # by kind
        self.http_rejected: Counter[str] = Counter()  # by reason
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.latency_count = 0
        self.snapshots = 0
        self.dead_letters: Counter[str] = Counter()  # by stage (intake, tokenize, routing, ...)
        self.worker_errors = 0  # failed worker steps (a source away, retried)
        self.gauges: dict[str, Callable[[], float]] = {}

    def observe(self, statuses: list[str], latencies: list[float], alert_kinds: list[str]) -> None:
        with self._lock:
            self.events.update(statuses)
            self.alerts.update(alert_kinds)
            for x in latencies:
                self.buckets[bisect.bisect_left(LATENCY_BUCKETS, x)] += 1
                self.latency_sum += x
            self.latency_count += len(latencies)

    def observe_dead(self, stages: list[str]) -> None:
        with self._lock:
            self.dead_letters.update(stages)

    def render(self) -> str:
        with self._lock:
            lines: list[str] = []
            _counter(lines, "events_total", "Released events by outcome.", "status", self.events)
            _counter(lines, "alerts_total", "Alerts raised by kind.", "kind", self.alerts)
            _counter(lines, "http_rejected_total", "Event batches refused by the API.", "reason", self.http_rejected)
            lines += [
                "# HELP neighborwatch_event_latency_seconds Arrival to scored, per event.",
                "# TYPE neighborwatch_event_latency_seconds histogram",
            ]
            cum = 0
            for b, c in zip(LATENCY_BUCKETS, self.buckets):
                cum += c
                lines.append(f'neighborwatch_event_latency_seconds_bucket{{le="{b}"}} {cum}')
            cum += self.buckets[-1]
            lines.append(f'neighborwatch_event_latency_seconds_bucket{{le="+Inf"}} {cum}')
            lines.append(f"neighborwatch_event_latency_seconds_sum {self.latency_sum:.6f}")
            lines.append(f"neighborwatch_event_latency_seconds_count {self.latency_count}")
            lines += ["# TYPE neighborwatch_snapshots_total counter", f"neighborwatch_snapshots_total {self.snapshots}"]
            _counter(
                lines, "dead_letters_total", "Events that could not be processed, by stage.", "stage", self.dead_letters
            )
            lines += [
                "# TYPE neighborwatch_worker_errors_total counter",
                f"neighborwatch_worker_errors_total {self.worker_errors}",
            ]
            for name, fn in sorted(self.gauges.items()):
                lines += [f"# TYPE neighborwatch_{name} gauge", f"neighborwatch_{name} {float(fn())}"]
        return "\n".join(lines) + "\n"


def _counter(lines: list[str], name: str, help_text: str, label: str, counts: Counter[str]) -> None:
    """One labelled Prometheus counter family: HELP, TYPE and a line per label value (sorted)."""
    lines += [f"# HELP neighborwatch_{name} {help_text}", f"# TYPE neighborwatch_{name} counter"]
    lines += [f'neighborwatch_{name}{{{label}="{k}"}} {counts[k]}' for k in sorted(counts)]
