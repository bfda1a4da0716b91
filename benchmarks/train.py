"""LAN training speed at equal quality: one encoder pass per sampled prefix (the authors' way,
config.train_unit = "prefix") vs one causal pass per session (ours, "session").

    python benchmarks/train.py [--work WORK] [--epochs 3] [--modes fast,faithful] [--threads 1]
                               [--hidden 128] [--k 15] [--batch-size 256] [--lr 1e-3]
                               [--max-train-samples 0] [--faithful-samples 3000]

Every run trains the same model from the same seed on the same samples (same selection and
oversampling, same epoch-wise retrieval); the only difference is how the query (and, in faithful
mode, neighbour) vectors of a batch are computed, and hence which samples share a batch. A
sample = one target position trained. Per run it prints samples per CPU-second of the training
steps (history.json's `samples_per_cpu_s`), the CPU seconds of the steps, of the pool refreshes,
of the epoch-wise retrieval and of validation, the best validation AUC (what selection sees) and
the test real-time AUC (reported only; nothing is selected on it). The last lines give the
speed-up of "session" over "prefix" per mode and the validation-AUC difference.

It also times the pool re-encoding that opens every epoch two ways: one prefix at a time and one
causal pass per session, on the same pool prefixes. Without --work it runs on the toy sequences.
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


def run(cfg: LANConfig, data) -> dict[str, float]:
    (tr, ytr), (va, yva), (te, yte) = data["train"], data["validation"], data["test"]
    c0 = time.process_time()
    det = LAN(cfg).fit(tr, ytr, va, yva)
    fit_cpu = time.process_time() - c0
    s = det.score_activities(te)
    ok = ~np.isnan(s)
    h = det.history
    n = sum(r["samples"] for r in h)
    steps_cpu = sum(r["train_cpu_s"] for r in h)
    return {
        "samples": n,
        "per_cpu_s": n / max(steps_cpu, 1e-9),
        "steps_cpu": steps_cpu,
        "pool_s": sum(r["pool_s"] for r in h),
        "retrieval_s": sum(r["retrieval_s"] for r in h),
        "val_s": sum(r.get("val_s", 0.0) for r in h),
        "fit_cpu": fit_cpu,
        "val_auc": max((r.get("val_auc", float("nan")) for r in h), default=float("nan")),
        "test_auc": roc_auc_score(yte[ok], s[ok]) if yte[ok].any() else float("nan"),
        "edges": float(np.mean([r["edge_density"] for r in h])),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=None)
    ap.add_argument("--toy-scale", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--modes", default="fast", help="comma-separated: fast, faithful")
    ap.add_argument("--max-train-samples", type=int, default=0, help="cap on samples in fast mode (0 = all)")
    ap.add_argument("--faithful-samples", type=int, default=3_000, help="cap on samples in faithful mode")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--sparsify", default="centred")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-pool", type=int, default=0, help="cap the neighbour pool (0 = all, the paper)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = splits(args.work, args.toy_scale)
    (tr, ytr), (va, yva), (te, yte) = data["train"], data["validation"], data["test"]
    print(f"machine: {machine()}")
    print(
        f"data: {args.work or 'toy'}: train {tr.n_activities:,} activities / {len(tr):,} sessions, "
        f"validation {va.n_activities:,} ({int(yva.sum())} malicious), test {te.n_activities:,} "
        f"({int(yte.sum())} malicious)"
    )
    heads = 8 if args.hidden % 8 == 0 else 4
    base = LANConfig(
        embed_dim=args.hidden,
        hidden=args.hidden,
        attention_heads=heads,
        transformer_heads=heads,
        k=args.k,
        batch_size=args.batch_size,
        lr=args.lr,
        epochs=args.epochs,
        patience=args.epochs,
        threads=args.threads,
        device=args.device,
        max_pool=args.max_pool,
        sparsify=args.sparsify,
    )

    n_pool, t_prefix, t_session, diff = pool_encoding_speed(base, tr, ytr, args.batch_size)
    print(
        f"pool re-encoding ({n_pool:,} prefixes): one prefix at a time {t_prefix:.2f} CPU-s, "
        f"one causal pass per session {t_session:.2f} CPU-s ({t_prefix / t_session:.1f}x), max |diff| {diff:.1e}"
    )

    print(
        f"{'mode':9} {'unit':8} {'samples':>8} {'per CPU-s':>10} {'steps CPU-s':>11} {'pool s':>7} "
        f"{'retr. s':>7} {'val s':>6} {'edges':>6} {'best val AUC':>12} {'test AUC':>9}"
    )
    results: dict[tuple[str, str], dict[str, float]] = {}
    for mode in args.modes.split(","):
        cap = args.faithful_samples if mode == "faithful" else args.max_train_samples
        for unit in ("prefix", "session"):
            r = run(base.replace(mode=mode, train_unit=unit, max_train_samples=cap), data)
            results[mode, unit] = r
            print(
                f"{mode:9} {unit:8} {r['samples']:>8,} {r['per_cpu_s']:>10.0f} {r['steps_cpu']:>11.1f} "
                f"{r['pool_s']:>7.1f} {r['retrieval_s']:>7.1f} {r['val_s']:>6.1f} {r['edges']:>6.2f} "
                f"{r['val_auc']:>12.4f} {r['test_auc']:>9.4f}",
                flush=True,
            )
    for mode in args.modes.split(","):
        old, new = results[mode, "prefix"], results[mode, "session"]
        print(
            f"{mode}: session / prefix samples per CPU-s = {new['per_cpu_s'] / old['per_cpu_s']:.1f}x; "
            f"best validation AUC {new['val_auc']:.4f} vs {old['val_auc']:.4f} "
            f"(difference {new['val_auc'] - old['val_auc']:+.4f})"
        )


if __name__ == "__main__":
    main()
