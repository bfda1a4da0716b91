"""Does LAN's validation AUC pick the epoch the test period would pick? (issue 8 §2)

For each prepared WORK and seed: fits LAN (a preset plus --params overrides, as the benchmark
builds it) and, after every epoch, scores the TEST sessions with the current model through the
fit's measurement probe. Selection still reads only the validation split; the test AUCs are
recorded beside it, never used. Prints one JSON line per epoch and per fit (the Spearman rank
correlation of validation vs test AUC over the epochs, the selected epoch's test AUC and the best
epoch's), and writes config.json + results.json to --out.

    python benchmarks/epoch_selection.py WORK [WORK ...] --seeds 0,1,2 [--params P.json] --out DIR
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from neighborwatch.evaluation import metrics as M
from neighborwatch.evaluation import protocol as P
from neighborwatch.evaluation.benchmark import build_detector, load_benchmark_data


def one_fit(work: Path, seed: int, overrides: dict[str, Any]) -> dict[str, Any]:
    data = load_benchmark_data(work)
    train, labels = data.train["session"]
    val = data.eval.sessions["validation"]
    test = data.eval.sessions["test"]
    det, params = build_detector("lan", seed, train.vocab_size, False, overrides)

    def probe(score) -> dict[str, float]:
        items = P.item_scores(P.REALTIME, test, score(test.seqs))
        return {"test_auc": M.roc_auc(test.raw_labels, items)}

    t0 = time.perf_counter()
    det.fit(train, labels, val.seqs, val.labels, probe=probe)  # type: ignore[call-arg]
    epochs = [
        {"epoch": r["epoch"], "steps": r["steps"], "val_auc": r.get("val_auc"), "test_auc": r["probe"]["test_auc"]}
        for r in det.history
    ]
    for e in epochs:
        print(json.dumps({"work": str(work), "seed": seed, **e}), flush=True)
    v = np.array([e["val_auc"] for e in epochs], dtype=float)
    t = np.array([e["test_auc"] for e in epochs], dtype=float)
    rho = float(spearmanr(v, t).statistic) if len(epochs) > 2 and np.isfinite(v).all() else float("nan")
    return {
        "work": str(work),
        "seed": seed,
        "params": params,
        "epochs": epochs,
        "spearman_val_test": rho,
        "selected_epoch": det.best_epoch,
        "selected_test_auc": float(t[det.best_epoch - 1]),
        "best_test_epoch": int(np.nanargmax(t)) + 1,
        "best_test_auc": float(np.nanmax(t)),
        "fit_s": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("works", nargs="+", type=Path)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--params", type=Path, help='{"lan": {option: value}} on top of the standard preset')
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    overrides = json.loads(args.params.read_text()) if args.params else {}
    seeds = [int(s) for s in args.seeds.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    config = {"works": [str(w) for w in args.works], "seeds": seeds, "overrides": overrides, "threads": args.threads}
    (args.out / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    fits = []
    for work in args.works:
        for seed in seeds:
            fits.append(one_fit(work, seed, overrides))
            summary = {k: v for k, v in fits[-1].items() if k not in ("epochs", "params")}
            print(json.dumps(summary), flush=True)
            (args.out / "results.json").write_text(json.dumps({"config": config, "fits": fits}, indent=1) + "\n")
    rhos = [f["spearman_val_test"] for f in fits if np.isfinite(f["spearman_val_test"])]
    print(f"median Spearman(validation AUC, test AUC) over epochs: {np.median(rhos) if rhos else float('nan'):.3f}")


if __name__ == "__main__":
    main()
