"""Where should a held-out user's history come from? (issue 15, users held out for validation)

The acting user's history (`models/user_history.py`) counts training events only, so a user held
out for validation is judged by the organisation's mix: "first time for this user" cannot fire
for him. His label-free events before the test cut could be his history, but an insider whose
campaign starts before the cut then has it as his own normal. This script measures, with the
deterministic `user_novelty` detector, test AUC and DR@10 % per scenario for:

* `training`: the history as the detectors build it (training normal events);
* `trimmed q=Q`: plus the held-out users' validation-split events whose novelty under the
  training history is at most the Q-quantile of the training events' novelty;
* `untrimmed`: plus all of the held-out users' validation-split events;
* `labelled normal`: plus their validation events that the validation labels call normal — what
  the evaluation protocol does once every validation choice is made (`UserHistory.with_new_users`).

Each variant is scored on the test period (`on: test`; headroom only: a variant chosen by these
numbers is chosen on the test) and, as a test-free way to choose, on the held-out users' last
month before the test cut (`on: selection`, validation labels), with their history then built
from their events before that month only. Prints JSON lines, one per WORK × level × variant.

    python benchmarks/held_out_history.py WORK [WORK ...] [--quantiles 0.99]
"""

from __future__ import annotations

import argparse
import json
import math
import warnings
from pathlib import Path

import numpy as np

from neighborwatch.evaluation import metrics as M
from neighborwatch.evaluation import protocol as P
from neighborwatch.evaluation.benchmark import load_benchmark_data
from neighborwatch.models.baselines.realtime.user_novelty import UserNovelty, UserNoveltyConfig
from neighborwatch.models.user_history import UserHistory, raw_events
from neighborwatch.sequences.base import SequenceSet, segment_positions


def variants(
    train: SequenceSet,
    malicious: np.ndarray,
    held_out: SequenceSet,
    held_out_labels: np.ndarray,
    quantiles: list[float],
) -> dict:
    prior = UserNoveltyConfig().prior_events
    tu, tt = raw_events(train, malicious)
    base = UserHistory.from_events(tu, tt, int(train.vocab_size))
    hu, ht = raw_events(held_out)
    new = ~np.isin(hu, base.users)
    hu, ht = hu[new], ht[new]
    novelty = base.surprisal(hu, ht, prior)
    reference = base.surprisal(tu, tt, prior)
    out = {"training": base}
    for q in quantiles:
        keep = novelty <= np.quantile(reference, q)
        out[f"trimmed q={q}"] = UserHistory.from_events(
            np.concatenate([tu, hu[keep]]), np.concatenate([tt, ht[keep]]), base.vocab_size, base.token_counts
        )
    out["untrimmed"] = base.with_new_users(held_out, None)
    out["labelled normal"] = base.with_new_users(held_out, held_out_labels)
    return out


def selection_parts(val: P.Split, val_start: np.datetime64) -> tuple[P.Split, P.Split]:
    """The validation users' sequences before `val_start` (their history) and from it on (the
    selection period), each with its ground truth."""
    starts = val.seqs.meta["start"].to_numpy()
    assert val.scenarios is not None

    def part(which: np.ndarray) -> P.Split:
        idx = segment_positions(val.seqs.offsets, which)
        return P.Split(val.seqs.subset(which), val.labels[idx], val.scenarios[idx])  # type: ignore[index]

    return part(np.flatnonzero(starts < val_start)), part(np.flatnonzero(starts >= val_start))


def measure(level: str, split: P.Split, history: UserHistory) -> dict:
    det = UserNovelty()
    det.tables = history
    if level == P.REALTIME:
        scores = P.item_scores(level, split, det.score_activities(split.seqs))
        labels, scenarios, _ = split.raw_truth()
    else:
        scores = np.asarray(det.score_sequences(split.seqs), dtype=np.float64)
        labels, scenarios = split.sequence_labels(), split.sequence_scenarios()
    per = M.per_scenario_detection(labels, scores, scenarios, float("nan"), budgets=(0.10,))
    return {
        "auc": None if math.isnan(auc := M.roc_auc(labels, scores)) else round(auc, 4),
        "dr@10%": {r["scenario"]: round(r[M.budget_key(0.10)], 3) for r in per},
        "positives": int(labels.sum()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("works", nargs="+", type=Path)
    ap.add_argument("--quantiles", default="0.99", help="comma-separated trimming quantiles")
    args = ap.parse_args()
    quantiles = [float(q) for q in args.quantiles.split(",")]
    warnings.simplefilter("ignore")
    for work in args.works:
        data = load_benchmark_data(work)
        val_start = np.datetime64(data.eval.config["split_dates"]["val_start"])
        for kind, splits in (("session", data.eval.sessions), ("day", data.eval.days)):
            if splits is None or kind not in data.train:
                continue
            train, labels = data.train[kind]
            malicious = np.asarray(labels, dtype=bool)
            val = splits["validation"]
            early, selection = selection_parts(val, val_start)
            runs = {
                "test": (variants(train, malicious, val.seqs, val.labels, quantiles), splits["test"]),
                "selection": (variants(train, malicious, early.seqs, early.labels, quantiles), selection),
            }
            levels = (P.REALTIME, P.SESSION) if kind == "session" else (P.DAY,)
            for on, (histories, split) in runs.items():
                for level in levels:
                    for name, history in histories.items():
                        row = {"work": str(work), "on": on, "level": level, "history": name}
                        print(json.dumps({**row, **measure(level, split, history)}), flush=True)


if __name__ == "__main__":
    main()
