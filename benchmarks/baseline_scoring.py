"""Scoring seconds of the causal next-activity baselines: one pass over each sequence's first W
activities (`shares_prefixes`) vs one window per activity, on the same weights.

    python benchmarks/baseline_scoring.py [WORK] [--only deeplog,lstm] [--threads 1] [--max 200000]

With WORK: its test sessions (at most `--max` activities, whole sessions); without: the toy
sessions of `neighborwatch.sequences.toy` repeated to ~`--max` activities. The networks keep
their random initial weights (speed and equality do not depend on training). Prints per
detector both times, the ratio and the largest score difference.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from _machine import machine  # noqa: E402  (benchmarks/ sibling)
from neighborwatch.models.registry import detector_class
from neighborwatch.sequences.base import SequenceSet


def sessions(work: str | None, limit: int) -> SequenceSet:
    if work:
        from neighborwatch.sequences.build import load_sequences

        seqs = load_sequences(work, "session").split("test")
    else:
        from neighborwatch.sequences.toy import toy_data

        seqs = toy_data(seed=0, n_test=max(1, limit // 12))["test"][0]
    keep = np.flatnonzero(np.cumsum(seqs.lengths) <= limit)
    return seqs.subset(keep)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work", nargs="?")
    ap.add_argument("--only", default="deeplog,rnn,gru4rec,lstm")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max", type=int, default=200_000)
    args = ap.parse_args()
    os.environ.setdefault("NEIGHBORWATCH_PROGRESS", "0")
    torch.set_num_threads(args.threads)
    seqs = sessions(args.work, args.max)
    print(f"machine: {machine()}")
    print(f"{len(seqs):,} sequences, {seqs.n_activities:,} activities, median length {int(np.median(seqs.lengths))}")
    for name in args.only.split(","):
        det = detector_class(name)(seed=0)
        det.vocab_size = seqs.vocab_size
        det.net = det.build_net(seqs.vocab_size)
        cls = type(det.net)
        t0 = time.perf_counter()
        shared = det.score_activities(seqs)
        t1 = time.perf_counter()
        cls.shares_prefixes = False
        windowed = det.score_activities(seqs)
        t2 = time.perf_counter()
        cls.shares_prefixes = True
        diff = float(np.nanmax(np.abs(shared - windowed)))
        print(
            f"{name:8s} W={det.config.window:3d}: one pass {t1 - t0:7.2f} s, windows {t2 - t1:7.2f} s "
            f"({(t2 - t1) / max(t1 - t0, 1e-9):.1f}x), max |diff| {diff:.1e}"
        )


if __name__ == "__main__":
    main()
