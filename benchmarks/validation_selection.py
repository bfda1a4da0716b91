"""Does the validation set rank detectors as the test period does? (issue 8 §2)

For each prepared WORK folder and each validation rule (held-out users vs the month before the
test cut), fits fast detectors on the training split, and reports per detector the real-time AUC
on validation and on test, the validation's malicious raw events / scenarios, and the Spearman
rank correlation of validation vs test AUC across detectors. Prints JSON lines; numbers only.

    python benchmarks/validation_selection.py WORK [WORK ...] [--methods markov,iforest,...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from neighborwatch.evaluation import metrics as M
from neighborwatch.evaluation import protocol as P
from neighborwatch.evaluation.benchmark import build_detector
from neighborwatch.sequences.build import build_sequences, load_sequences


def level_auc(split: P.Split, scores: np.ndarray) -> float:
    return M.roc_auc(split.raw_labels, P.item_scores(P.REALTIME, split, scores))


def run(work: Path, rule: str, methods: list[str], seed: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="nw-valsel-"))
    try:
        for f in ("events.parquet", "labels.parquet", "summary.json"):
            if (work / f).exists():
                shutil.copy(work / f, tmp / f)
        build_sequences(tmp, validation=rule)
        data = P.load_eval_data(tmp)
        train = load_sequences(tmp).split("train")
        val, test = data.sessions["validation"], data.sessions["test"]
        rows = []
        for m in methods:
            det, _ = build_detector(m, seed, train.vocab_size, True)
            det.fit(train, None, val.seqs, None)
            rows.append(
                {
                    "method": m,
                    "val_auc": level_auc(val, det.score_activities(val.seqs)),
                    "test_auc": level_auc(test, det.score_activities(test.seqs)),
                }
            )
        v = np.array([r["val_auc"] for r in rows])
        t = np.array([r["test_auc"] for r in rows])
        ok = ~np.isnan(v) & ~np.isnan(t)
        rho = float(spearmanr(v[ok], t[ok]).statistic) if ok.sum() >= 3 else float("nan")
        scen = sorted({int(x) for x in np.unique(val.raw_scenarios[val.raw_labels])})
        return {
            "work": str(work),
            "rule": rule,
            "validation_malicious_events": int(val.raw_labels.sum()),
            "validation_scenarios": scen,
            "spearman": rho,
            "methods": rows,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("works", nargs="+", type=Path)
    ap.add_argument("--methods", default="markov,iforest,gru4rec,deeplog,rnn,fmlprec")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    for work in a.works:
        for rule in ("users", "period"):
            print(json.dumps(run(work, rule, a.methods.split(","), a.seed)), flush=True)


if __name__ == "__main__":
    main()
