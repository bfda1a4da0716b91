"""Training time, scoring throughput and toy AUC of every real-time baseline (default settings).

    python benchmarks/realtime_baselines.py [--scale 1] [--seed 0] [--threads 1] [--max-epochs N]
                                            [--only deeplog,markov]

Data: `neighborwatch.sequences.toy.toy_data` (tiny sessions with a planted night-time
device-and-upload pattern), `--scale` times its default size. Each detector is built with its
own defaults (only `max_epochs` may be overridden), fitted on train with validation for early
stopping, and scored on test; the AUC is over the scorable test activities. The toy pattern is
easy, so the AUC column is a sanity check, not a comparison — the comparison is
`neighborwatch benchmark`. Prints the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from _machine import machine  # noqa: E402  (benchmarks/ sibling)
from neighborwatch.models.base import ACTIVITY
from neighborwatch.models.registry import available
from neighborwatch.sequences.toy import toy_data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=1, help="multiply the toy data size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--max-epochs", type=int, default=None)
    ap.add_argument("--only", default="", help="comma-separated detector names")
    args = ap.parse_args()
    os.environ.setdefault("NEIGHBORWATCH_PROGRESS", "0")
    torch.set_num_threads(args.threads)

    data = toy_data(seed=args.seed, n_train=300 * args.scale, n_val=80 * args.scale, n_test=120 * args.scale)
    (train, train_labels), (val, val_labels), (test, test_labels) = data["train"], data["validation"], data["test"]
    realtime = [
        n
        for n, c in available().items()
        if ACTIVITY in c.levels and c.__module__.startswith("neighborwatch.models.baselines.realtime")
    ]
    names = [n for n in args.only.split(",") if n] or realtime

    print(f"machine: {machine()}")
    print(
        f"data: train {train.n_activities} / validation {val.n_activities} / test {test.n_activities} "
        f"activities, {int(test_labels.sum())} malicious in test"
    )
    print(f"{'detector':10s} {'fit s':>8s} {'epochs':>6s} {'score s':>8s} {'act/s':>10s} {'AUC':>7s}")
    for name in names:
        cls = available()[name]
        kw = {"seed": args.seed}
        config_class = getattr(cls, "Config", None)
        if args.max_epochs is not None and config_class and "max_epochs" in config_class.__dataclass_fields__:
            kw["max_epochs"] = args.max_epochs
        det = cls(**kw)
        t0 = time.perf_counter()
        det.fit(train, train_labels, val, val_labels)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        scores = det.score_activities(test)
        score_s = time.perf_counter() - t0
        ok = ~np.isnan(scores)
        auc = roc_auc_score(test_labels[ok], scores[ok])
        epochs = len(getattr(det, "history", [])) or "-"
        print(
            f"{name:10s} {fit_s:8.2f} {epochs!s:>6s} {score_s:8.3f} {ok.sum() / score_s:10.0f} {auc:7.4f}", flush=True
        )


if __name__ == "__main__":
    main()
