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
            lines = [
                "# HELP neighborwatch_events_total Released events by outcome.",
                "# TYPE neighborwatch_events_total counter",
            ]
            for k in sorted(self.events):
                lines.append(f'neighborwatch_events_total{{status="{k}"}} {self.events[k]}')
            lines += [
                "# HELP neighborwatch_alerts_total Alerts raised by kind.",
                "# TYPE neighborwatch_alerts_total counter",
            ]
            for k in sorted(self.alerts):
                lines.append(f'neighborwatch_alerts_total{{kind="{k}"}} {self.alerts[k]}')
            lines += [
                "# HELP neighborwatch_http_rejected_total Event batches refused by the API.",
                "# TYPE neighborwatch_http_rejected_total counter",
            ]
            for k in sorted(self.http_rejected):
                lines.append(f'neighborwatch_http_rejected_total{{reason="{k}"}} {self.http_rejected[k]}')
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
            lines += [
                "# HELP neighborwatch_dead_letters_total Events that could not be processed, by stage.",
                "# TYPE neighborwatch_dead_letters_total counter",
            ]
            for k in sorted(self.dead_letters):
                lines.append(f'neighborwatch_dead_letters_total{{stage="{k}"}} {self.dead_letters[k]}')
            lines += [
                "# TYPE neighborwatch_worker_errors_total counter",
                f"neighborwatch_worker_errors_total {self.worker_errors}",
            ]
            for name, fn in sorted(self.gauges.items()):
                lines += [f"# TYPE neighborwatch_{name} gauge", f"neighborwatch_{name} {float(fn())}"]
        return "\n".join(lines) + "\n"
