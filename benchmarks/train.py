"""LAN training speed and quality: faithful (the paper's design) vs fast mode.

    python benchmarks/train.py [--work WORK] [--epochs 2] [--max-train-samples 20000]
                               [--hidden 128] [--k 15] [--batch-size 512] [--lr 1e-3] [--threads 1] [--max-pool 0]

Both modes train the same model from the same seed on the same samples:
* faithful — every graph's query and its k−1 neighbour prefixes are encoded with gradients,
  one prefix at a time (LAN.md §3.7, what the authors do);
* fast — the query is encoded with gradients, neighbours are the pool vectors cached at the
  start of the epoch;
* +buckets — batches of similar prefix length (config.length_buckets = 50).
Per mode it prints training samples/s, seconds per epoch, best validation AUC and the
real-time AUC on the test split (reported only; nothing is selected on it).

It also times the pool re-encoding that opens every epoch two ways: one prefix at a time (the
authors' design) and one causal pass per session (ours), on the same pool prefixes.
Without --work it runs on the toy sequences. Prints the machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from _lan_bench import splits
from _machine import machine
from neighborwatch.models.lan.config import LANConfig
from neighborwatch.models.lan.detector import LAN
from neighborwatch.models.lan.model import LANModel, pad_prefixes
from neighborwatch.models.lan.retrieval import select_pool
from neighborwatch.models.lan.scoring import prefix_vectors


def pool_encoding_speed(cfg: LANConfig, train, labels, batch: int) -> tuple[int, float, float, float]:
    """(pool size, per-prefix CPU seconds, per-session CPU seconds, max |difference|)."""
    torch.manual_seed(cfg.seed)
    model = LANModel(cfg).eval()
    pool = select_pool(train, labels, cfg.max_pool, cfg.seed)
    t0 = time.process_time()
    fast = prefix_vectors(model, train, pool.ends, torch.device("cpu"))
    t_session = time.process_time() - t0
    starts = pool.ends - pool.lengths + 1
    order = np.argsort(pool.lengths, kind="stable")  # length-sorted batches: the authors' best case
    slow = np.empty_like(fast)
    t0 = time.process_time()
    with torch.inference_mode():
        for s in range(0, len(order), batch):
            idx = order[s : s + batch]
            tok, lens = pad_prefixes(train.tokens, starts[idx], pool.lengths[idx])
            slow[idx] = model.encode_prefixes(torch.from_numpy(tok), torch.from_numpy(lens)).numpy()
    t_prefix = time.process_time() - t0
    return len(pool), t_prefix, t_session, float(np.abs(fast - slow).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=None)
    ap.add_argument("--toy-scale", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--max-train-samples", type=int, default=20_000)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-pool", type=int, default=0, help="cap the neighbour pool (0 = all, the paper)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--modes", default="fast,fast+buckets,faithful",
                    help="comma-separated: faithful, fast, and either with +buckets (length_buckets=50)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = splits(args.work, args.toy_scale)
    (tr, ytr), (va, yva), (te, yte) = data["train"], data["validation"], data["test"]
    print(f"machine: {machine()}")
    print(f"data: {args.work or 'toy'}: train {tr.n_activities:,} activities / {len(tr):,} sessions, "
          f"validation {va.n_activities:,}, test {te.n_activities:,} ({int(yte.sum())} malicious)")
    heads = 8 if args.hidden % 8 == 0 else 4
    base = LANConfig(embed_dim=args.hidden, hidden=args.hidden, attention_heads=heads, transformer_heads=heads,
                     k=args.k, batch_size=args.batch_size, lr=args.lr, epochs=args.epochs, patience=args.epochs,
                     max_train_samples=args.max_train_samples, threads=args.threads, device=args.device,
                     max_pool=args.max_pool)

    n_pool, t_prefix, t_session, diff = pool_encoding_speed(base, tr, ytr, args.batch_size)
    print(f"pool re-encoding ({n_pool:,} prefixes): one prefix at a time {t_prefix:.2f} CPU-s, "
          f"one causal pass per session {t_session:.2f} CPU-s ({t_prefix / t_session:.1f}x), max |diff| {diff:.1e}")

    print(f"{'mode':15} {'samples':>8} {'samples/s':>10} {'per CPU-s':>10} {'s/epoch':>8} {'best val AUC':>12} "
          f"{'test AUC':>9} {'fit s':>7}")
    for mode in args.modes.split(","):
        det = LAN(base.replace(mode=mode.split("+")[0], length_buckets=50 if mode.endswith("+buckets") else 0))
        t0 = time.perf_counter()
        det.fit(tr, ytr, va, yva)
        fit_s = time.perf_counter() - t0
        s = det.score_activities(te)
        ok = ~np.isnan(s)
        auc = roc_auc_score(yte[ok], s[ok]) if yte[ok].any() else float("nan")
        rate = np.mean([r["samples_per_s"] for r in det.history])
        cpu_rate = np.mean([r["samples_per_cpu_s"] for r in det.history])
        per_epoch = np.mean([r["train_s"] for r in det.history])
        val = max((r.get("val_auc", float("nan")) for r in det.history), default=float("nan"))
        n = det.n_train_samples
        print(f"{mode:15} {n:>8,} {rate:>10.0f} {cpu_rate:>10.0f} {per_epoch:>8.1f} {val:>12.4f} {auc:>9.4f} {fit_s:>7.1f}")


if __name__ == "__main__":
    main()
