"""Per-event cost of the live risk and incident step (issue 13): what `RiskTracker.update` +
`IncidentTracker.observe` add to every scored activity in the engine.

Synthetic stream: `--users` users, `--events` activities in time order, scores from a Beta
distribution with a small share of very surprising ones (so alerts and incidents do happen), a
baseline as calibration would fit it. Prints microseconds per event (median of `--repeats`) and
the alerts / incidents raised. Numbers only; the machine is printed with them.

    python benchmarks/risk_step.py [--users 1000] [--events 200000] [--repeats 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from _machine import machine
from neighborwatch.evaluation.incidents import IncidentTracker
from neighborwatch.evaluation.riskmodel import Baseline
from neighborwatch.streaming.risk import RiskTracker

US = 1_000_000


def stream(users: int, events: int, seed: int) -> tuple[list[str], list[int], list[float]]:
    rng = np.random.default_rng(seed)
    who = [f"u{u:05d}" for u in rng.integers(0, users, events)]
    times = np.cumsum(rng.exponential(30 * 24 * 3600 / events, events) * US).astype(np.int64).tolist()
    scores = rng.beta(8, 2, events)
    hot = rng.random(events) < 0.002
    scores[hot] = 1 - rng.random(hot.sum()) * 1e-4
    return who, times, scores.tolist()


def run_once(who: list[str], times: list[int], scores: list[float], baseline: Baseline) -> tuple[float, int, int]:
    risk = RiskTracker(24 * 3600.0, baseline, slack=1.0)
    incidents = IncidentTracker(activity=0.9999, risk=8.0)
    alerts = 0
    t0 = time.perf_counter()
    for i, (u, t, s) in enumerate(zip(who, times, scores)):
        before, after, z = risk.update(u, t, s)
        kinds, _ = incidents.observe(u, t, str(i), s, z, before, after)
        alerts += len(kinds)
    return time.perf_counter() - t0, alerts, len(incidents.incidents)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    who, times, scores = stream(args.users, args.events, args.seed)
    baseline = Baseline.fit(np.asarray(who, dtype=object), np.asarray(scores))
    runs = [run_once(who, times, scores, baseline) for _ in range(args.repeats)]
    per_event_us = statistics.median(r[0] for r in runs) / args.events * 1e6
    print(machine())
    print(f"users {args.users}, events {args.events}, alerts {runs[0][1]}, incidents {runs[0][2]}")
    print(f"risk + incident step: {per_event_us:.2f} µs per event (median of {args.repeats})")


if __name__ == "__main__":
    main()
