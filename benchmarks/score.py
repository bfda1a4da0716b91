"""LAN batch-scoring throughput (activities/s) and where the time goes.

    python benchmarks/score.py [--work WORK] [--model MODEL_DIR] [--threads 1] [--per-prefix 2000]

Scores every activity of the test split with `LAN.score_activities`: one encoder pass per
session (causal pooling gives every prefix), one FAISS batch search for all queries, the graph
head in batches. Prints activities/s end to end and the split into encode / search / head, and,
for comparison, the activities/s of encoding each prefix separately (the authors' design) on
the first `--per-prefix` queries. Without --model a small LAN is trained first (seconds on toy
data; `--epochs` on a WORK). Without --work it runs on the toy sequences. Prints the machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from _lan_bench import splits
from _machine import machine
from neighborwatch.models.lan.config import LANConfig
from neighborwatch.models.lan.detector import LAN
from neighborwatch.models.lan.model import pad_prefixes
from neighborwatch.models.lan.retrieval import prefix_hashes
from neighborwatch.models.lan.scoring import head_probabilities, neighbour_ids, prefix_vectors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=None)
    ap.add_argument("--model", default=None)
    ap.add_argument("--toy-scale", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-train-samples", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--per-prefix", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = splits(args.work, args.toy_scale)
    (tr, ytr), (va, yva), (te, _) = data["train"], data["validation"], data["test"]
    if args.model:
        det = LAN.load(args.model)
    else:
        cfg = LANConfig(
            epochs=args.epochs, lr=1e-3, max_train_samples=args.max_train_samples, threads=args.threads, device="cpu"
        )
        det = LAN(cfg).fit(tr, ytr, va, yva)
    cfg, dev = det.config, det.device
    print(f"machine: {machine()}")
    print(
        f"model: hidden {cfg.hidden}, {cfg.encoder}/{cfg.pooling}, k={cfg.k}, pool {len(det.pool):,} prefixes "
        f"({'exact' if det.index.exact else 'HNSW'} index)"
    )
    n_scored = int((te.position_in_sequence() >= 1).sum())
    print(
        f"data: {args.work or 'toy'} test split: {te.n_activities:,} activities, {n_scored:,} scored, "
        f"{len(te):,} sessions, longest {int(te.lengths.max())}"
    )

    best, best_cpu = float("inf"), float("inf")
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        det.score_activities(te)
        best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
    print(
        f"batch scoring end to end: {best:.2f} s wall = {n_scored / best:,.0f} activities/s; "
        f"{best_cpu:.2f} CPU-s = {n_scored / best_cpu:,.0f} activities per CPU-s (best of {args.repeat})"
    )

    targets = np.flatnonzero(te.position_in_sequence() >= 1)
    ends = targets - 1
    t0 = time.process_time()
    q = prefix_vectors(det.model, te, ends, dev)
    t1 = time.process_time()
    nb = neighbour_ids(det.index, q, prefix_hashes(te)[ends] if cfg.exclude_identical else None, cfg)
    t2 = time.process_time()
    head_probabilities(det.model, q, nb, det.pool_vectors, dev, observed=te.tokens[targets])
    t3 = time.process_time()
    encode_s = t1 - t0
    print(f"  CPU-s: encode (one pass per session) {t1 - t0:.2f} | search {t2 - t1:.2f} | graph head {t3 - t2:.2f}")

    m = min(args.per_prefix, len(ends))
    sub = ends[:m]
    starts = te.offsets[:-1][te.seq_index()[sub]]
    lengths = te.position_in_sequence()[sub] + 1
    t0 = time.process_time()
    with torch.inference_mode():
        for s in range(0, m, 512):
            tok, lens = pad_prefixes(te.tokens, starts[s : s + 512], lengths[s : s + 512])
            det.model.encode_prefixes(torch.from_numpy(tok).to(dev), torch.from_numpy(lens).to(dev))
    per_prefix = time.process_time() - t0
    print(
        f"  encoding each prefix separately (authors' design), first {m:,} queries: {per_prefix:.2f} CPU-s = "
        f"{m / per_prefix:,.0f} queries per CPU-s vs {len(ends) / encode_s:,.0f} with one pass per session"
    )


if __name__ == "__main__":
    main()
