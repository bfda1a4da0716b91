"""The evaluation protocol: thresholds on validation, then the test period scored once.

Three levels, each a (sequence kind, scoring method) pair of the detector contract:

* ``realtime`` — activity level: `score_activities` on test sessions (LAN's main task);
* ``session``  — post-hoc: `score_sequences` on test sessions (malicious iff it holds a
  malicious activity);
* ``day``      — post-hoc: `score_sequences` on test user-days.

Order of work (the honesty of the numbers rests on it): every level's validation split is scored
and its alert threshold fixed (ROC point nearest (0,1)) BEFORE any test sequence reaches the
detector; then the users held out for validation join the users the detector knows (their
labelled-normal validation events become their history, `Detector.learn_new_users`: a refit on
training + validation after model selection, for the detectors that keep per-user counts); then
each test split is scored exactly once and only measured. The test-optimal point is reported
too, labelled as such, because the paper chose its threshold on test.

Ground truth is the raw events (issue 8 §1): the real-time items are the raw events of the test
sessions, each scored by the position that scores it (a collapsed repeat by the activity it
repeats; a BOS position is no item), and a session / user-day is malicious iff one of its raw
events is. Every level reports how many malicious raw events it holds, scores, and leaves
unscored (`ground_truth`).

Ground truth enters here only as arrays handed to the metrics; the detector sees SequenceSets.
`evaluate_scores` is the core on precomputed score arrays, `evaluate_on` runs a detector on an
in-memory `EvalData` (the benchmark loads data once and calls it per detector), and
`evaluate_detector` does the same for a prepared WORK folder.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from neighborwatch.data.labels import row_labels
from neighborwatch.evaluation import metrics as M
from neighborwatch.models.base import Detector
from neighborwatch.progress import progress
from neighborwatch.sequences.base import SequenceSet, activity_labels, raw_labels, segment_positions
from neighborwatch.workdir import WorkDir

REALTIME, SESSION, DAY = "realtime", "session", "day"
LEVELS: tuple[str, ...] = (REALTIME, SESSION, DAY)
LEVEL_TITLES = {
    REALTIME: "real-time (activity level)",
    SESSION: "post-hoc (session level)",
    DAY: "post-hoc (user-day level)",
}
TEST_OPTIMAL_NOTE = "threshold chosen on the TEST split: for comparison with the paper only"


@dataclass
class Split:
    """One split of one sequence kind plus its ground truth (for metrics only).

    `labels` / `scenarios` / `insiders` are per flat position (what training code sees; a
    position is malicious iff a raw event it scores is). The `raw_*` arrays are per raw event in
    `seqs.raw_positions()` order — the items of the metrics; when not given they are the values of
    the position that scores each raw event.
    """

    seqs: SequenceSet
    labels: np.ndarray  # bool per flat position
    scenarios: np.ndarray | None = None  # int per flat position, 0 = none
    insiders: np.ndarray | None = None  # object per flat position, '' = none
    raw_labels: np.ndarray | None = None  # bool per raw event
    raw_scenarios: np.ndarray | None = None  # int per raw event
    raw_insiders: np.ndarray | None = None  # object per raw event

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=bool)
        if self.labels.shape != (self.seqs.n_activities,):
            raise ValueError(f"labels need one entry per activity ({self.seqs.n_activities}), got {self.labels.shape}")
        if self.scenarios is None:
            self.scenarios = self.labels.astype(np.int64)  # unknown scenario: all malicious = 1
        self.scenarios = np.asarray(self.scenarios, dtype=np.int64)
        if self.insiders is None:
            self.insiders = np.where(self.labels, self.users(), "").astype(object)
        pos = self.seqs.raw_positions()
        self.raw_labels = self.labels[pos] if self.raw_labels is None else np.asarray(self.raw_labels, dtype=bool)
        if self.raw_labels.shape != pos.shape:
            raise ValueError(f"raw_labels need one entry per raw event ({pos.size}), got {self.raw_labels.shape}")
        if self.raw_scenarios is None:
            self.raw_scenarios = np.where(self.raw_labels, self.scenarios[pos], 0)
        self.raw_scenarios = np.asarray(self.raw_scenarios, dtype=np.int64)
        if self.raw_insiders is None:
            self.raw_insiders = np.where(self.raw_labels, self.insiders[pos], "").astype(object)

    def raw_truth(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(raw_labels, raw_scenarios, raw_insiders): never None once __post_init__ has run."""
        labels, scenarios, insiders = self.raw_labels, self.raw_scenarios, self.raw_insiders
        assert labels is not None and scenarios is not None and insiders is not None
        return labels, scenarios, insiders

    def users(self) -> np.ndarray:
        """The account of every flat position."""
        return self.seqs.meta["user"].to_numpy().astype(object)[self.seqs.seq_index()]

    def raw_users(self) -> np.ndarray:
        """The account of every raw event."""
        return self.seqs.meta["user"].to_numpy().astype(object)[self.seqs.raw_seq_index()]

    def sequence_labels(self) -> np.ndarray:
        """A sequence is malicious iff one of its raw events is."""
        hits = np.bincount(self.seqs.raw_seq_index(), weights=self.raw_truth()[0], minlength=len(self.seqs))
        return hits > 0

    def sequence_scenarios(self) -> np.ndarray:
        """Per sequence: the highest scenario number among its malicious raw events (0 = none)."""
        out = np.zeros(len(self.seqs), dtype=np.int64)
        labels, scenarios, _ = self.raw_truth()
        np.maximum.at(out, self.seqs.raw_seq_index(), np.where(labels, scenarios, 0))
        return out


@dataclass
class EvalData:
    """Validation and test splits for sessions (and user-days when available)."""

    sessions: dict[str, Split]  # keys 'validation', 'test' (and 'calibration' when the WORK has it)
    days: dict[str, Split] | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def level_inputs(self, level: str) -> dict[str, Split] | None:
        return self.days if level == DAY else self.sessions


# -- core on score arrays --------------------------------------------------------------------
def choose_threshold(val_labels: np.ndarray, val_scores: np.ndarray) -> dict[str, Any]:
    """The validation-chosen operating point (ROC point nearest (0,1)) and its context."""
    y, s, unscored, _ = M.drop_unscored(val_labels, val_scores)
    point = M.nearest_corner(y, s)
    return {
        "value": point.threshold,
        "chosen_on": "validation",
        "validation_dr": point.dr,
        "validation_fpr": point.fpr,
        "validation_items": int(y.size),
        "validation_positives": int(y.sum()),
        "validation_unscored": unscored,
    }


def evaluate_scores(
    test_labels: np.ndarray,
    test_scores: np.ndarray,
    threshold: float | dict[str, Any],
    test_scenarios: np.ndarray | None = None,
    budgets: Sequence[float] = M.BUDGETS,
) -> dict[str, Any]:
    """All test metrics of one level from precomputed scores.

    `threshold` is the validation-chosen one (a number, or the dict `choose_threshold` returns);
    it is never derived from the test arrays. NaN scores are excluded and counted.
    """
    thr_info = threshold if isinstance(threshold, dict) else {"value": float(threshold)}
    thr = float(thr_info["value"])
    sc = np.asarray(test_labels, dtype=np.int64) if test_scenarios is None else np.asarray(test_scenarios)
    y, s, unscored, _ = M.drop_unscored(test_labels, test_scores)
    at = M.rates_at(y, s, thr) if not math.isnan(thr) else M.OperatingPoint(math.nan, math.nan, math.nan)
    if math.isnan(thr):
        warnings.warn(
            "no validation threshold (validation split degenerate): DR/FPR are NaN",
            M.DegenerateMetricWarning,
            stacklevel=2,
        )
    best = M.nearest_corner(y, s)
    out: dict[str, Any] = {
        "status": "ok",
        "counts": {"items": int(y.size), "positives": int(y.sum()), "unscored": unscored},
        "auc": M.roc_auc(y, s),
        "auprc": M.auprc(y, s),
        "threshold": thr_info,
        "dr": at.dr,
        "fpr": at.fpr,
    }
    for b in budgets:
        out[M.budget_key(b)] = M.dr_at_budget(y, s, b)
    out["test_optimal"] = {**best.as_dict(), "note": TEST_OPTIMAL_NOTE}
    # on all items: it excludes NaN scores itself and counts each scenario's unscored ones
    out["per_scenario"] = M.per_scenario_detection(test_labels, test_scores, sc, thr, budgets)
    return out


def skipped(reason: str) -> dict[str, Any]:
    return {"status": "skipped", "reason": reason}


# -- running a detector ----------------------------------------------------------------------
def _items(level: str, split: Split) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth and scenarios of the items of `level` (raw events or sequences)."""
    if level == REALTIME:
        labels, scenarios, _ = split.raw_truth()
        return labels, scenarios
    return split.sequence_labels(), split.sequence_scenarios()


def item_scores(level: str, split: Split, scores: np.ndarray) -> np.ndarray:
    """Detector output → one score per item: real-time, each raw event takes the score of the
    position that scores it (a collapsed repeat that of the activity it repeats)."""
    return scores[split.seqs.raw_positions()] if level == REALTIME else scores


def ground_truth_counts(level: str, split: Split, items: np.ndarray) -> dict[str, int]:
    """Malicious raw events of the split's sequences, how many of them `items` (item scores of
    `level`) score, and how many stay unscored (NaN) — the last must be 0."""
    y = split.raw_truth()[0]
    scored = ~np.isnan(items) if level == REALTIME else ~np.isnan(items)[split.seqs.raw_seq_index()]
    n, ok = int(y.sum()), int((y & scored).sum())
    return {
        "malicious_events": n,
        "scored_malicious_events": ok,
        "unscored_malicious_events": n - ok,
        "raw_events": int(y.size),
        "sequences": len(split.seqs),
    }


class _Scorer:
    """Calls the detector, once per (level, split).

    When the detector keeps the contract's default post-hoc score (an aggregate of its activity
    scores), session scores are aggregated from the real-time scores of the same sessions
    instead of scoring those sessions a second time: identical numbers, half the work.
    """

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.activity_scores: dict[str, np.ndarray] = {}  # split name -> session activity scores
        self.default_posthoc = type(detector).score_sequences is Detector.score_sequences
        self.seconds: dict[str, float] = {}

    def __call__(self, level: str, split_name: str, seqs: SequenceSet) -> np.ndarray:
        t0 = time.perf_counter()
        if level == SESSION and self.default_posthoc and split_name in self.activity_scores:
            scores = self.detector.sequence_scores(seqs, self.activity_scores[split_name])
        else:
            fn = self.detector.score_activities if level == REALTIME else self.detector.score_sequences
            scores = np.asarray(fn(seqs), dtype=np.float64)
            n = seqs.n_activities if level == REALTIME else len(seqs)
            if scores.shape != (n,):
                raise ValueError(f"{self.detector.name}: {fn.__name__} returned {scores.shape}, expected ({n},)")
            if level == REALTIME:
                self.activity_scores[split_name] = scores
        self.seconds[f"{level}.{split_name}"] = round(time.perf_counter() - t0, 3)
        return scores


def item_groups(level: str, split: Split) -> np.ndarray:
    """The resampling unit of each item for the bootstrap: its session / user-day."""
    return split.seqs.raw_seq_index() if level == REALTIME else np.arange(len(split.seqs), dtype=np.int64)


def uncertainty(
    level: str,
    split: Split,
    y: np.ndarray,
    scores: np.ndarray,
    scenarios: np.ndarray,
    samples: int = M.BOOTSTRAP_SAMPLES,
    seed: int = 0,
    alerts_per_100_users_per_day: float = M.ALERTS_PER_100_USERS_PER_DAY,
) -> dict[str, Any]:
    """The statistics of one level: session-bootstrap AUC CI; for real-time also the per-insider
    (macro) AUC and insiders caught / time-to-detect at a fixed alert budget."""
    out: dict[str, Any] = {"auc_ci": M.bootstrap_auc(y, scores, item_groups(level, split), samples, seed=seed)}
    if level == REALTIME:
        insiders = split.raw_truth()[2]
        out["macro_auc"] = M.per_insider_auc(y, scores, insiders, scenarios)
        out["alert_budget"] = M.alert_budget_detection(
            insiders,
            split.raw_users(),
            split.seqs.raw_event_times(),
            y,
            scores,
            scenarios,
            alerts_per_100_users_per_day,
        )
    return out


def evaluate_on(
    detector: Detector,
    data: EvalData,
    levels: Sequence[str] = LEVELS,
    budgets: Sequence[float] = M.BUDGETS,
    keep_scores: bool = False,
    bootstrap: int = M.BOOTSTRAP_SAMPLES,
    seed: int = 0,
    alerts_per_100_users_per_day: float = M.ALERTS_PER_100_USERS_PER_DAY,
    learn_new_users: bool = True,
) -> dict[str, Any]:
    """Run the protocol for `detector` on in-memory splits.

    With `learn_new_users`, once thresholds are fixed the detector counts the labelled-normal
    validation events of users it has never seen as their history (`Detector.learn_new_users`;
    this changes `detector`) before the test period is scored.

    Returns {"detector", "levels": {level: metrics | skipped}, "time_to_detect": [...],
    "protocol": {...}} and, with `keep_scores`, "arrays" (test scores and ground truth per level,
    for plots; and per activity for the alerting evaluation: `realtime_validation` and
    `realtime_calibration` without labels, `realtime_activities` of the test period; not JSON).
    """
    for level in levels:
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}; known: {', '.join(LEVELS)}")
    levels = [lv for lv in LEVELS if lv in levels]  # real-time first: its scores feed 'session'
    score = _Scorer(detector)
    results: dict[str, dict[str, Any]] = {}
    thresholds: dict[str, dict[str, Any]] = {}
    arrays: dict[str, dict[str, np.ndarray]] = {}
    ttd: list[dict] = []
    with progress() as bar:
        task = bar.add_task(f"evaluate {detector.name}: validation", total=2 * len(levels))
        # phase 1: validation only -> thresholds
        for level in levels:
            splits = data.level_inputs(level)
            bar.update(task, advance=1, description=f"evaluate {detector.name}: validation {level}")
            if splits is None or "validation" not in splits or "test" not in splits:
                results[level] = skipped(f"no {'user-day' if level == DAY else 'session'} sequences")
                continue
            try:
                val_scores = score(level, "validation", splits["validation"].seqs)
            except NotImplementedError as e:
                results[level] = skipped(f"detector does not score this level: {e}")
                continue
            val = splits["validation"]
            thresholds[level] = choose_threshold(_items(level, val)[0], item_scores(level, val, val_scores))
            if keep_scores and level == REALTIME:  # the alerting evaluation calibrates on these
                arrays["realtime_validation"] = _alerting_arrays(splits["validation"], val_scores)
                cal = splits.get("calibration")
                if cal is not None and cal.seqs.n_activities:  # the calibration window: as the test period
                    arrays["realtime_calibration"] = _alerting_arrays(cal, _window_scores(score, cal, val, val_scores))
        # between: the users held out for validation become known users (their normal events)
        learned = _learn_new_users(detector, data) if learn_new_users else 0
        # phase 2: each test split scored once, thresholds already fixed
        for level in levels:
            bar.update(task, advance=1, description=f"evaluate {detector.name}: test {level}")
            if level not in thresholds:
                continue
            thr = thresholds[level]
            test = data.level_inputs(level)["test"]  # type: ignore[index]
            position_scores = score(level, "test", test.seqs)
            scores = item_scores(level, test, position_scores)
            y, sc = _items(level, test)
            results[level] = evaluate_scores(y, scores, thr, sc, budgets)
            results[level]["ground_truth"] = ground_truth_counts(level, test, scores)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", M.DegenerateMetricWarning)
                results[level].update(
                    uncertainty(level, test, y, scores, sc, bootstrap, seed, alerts_per_100_users_per_day)
                )
            if level == REALTIME:
                ttd = M.time_to_detect(
                    test.raw_truth()[2], test.raw_users(), test.seqs.raw_event_times(), y, scores, thr["value"], sc
                )
            if keep_scores:
                arrays[level] = {**_level_arrays(level, test, scores, y), "groups": item_groups(level, test)}
                if level == REALTIME:  # the test period as alerting sees it: per activity, as the window
                    arrays["realtime_activities"] = {
                        **_alerting_arrays(test, position_scores),
                        "labels": test.labels,
                        "insiders": np.asarray(test.insiders, dtype=object),
                        "scenarios": np.asarray(test.scenarios, dtype=np.int64),
                    }
    out: dict[str, Any] = {
        "detector": detector.name,
        "levels": {lv: results[lv] for lv in levels},
        "time_to_detect": ttd,
        "protocol": {
            "threshold_rule": "ROC point nearest (FPR 0, TPR 1), chosen on validation",
            "alert_rule": "score >= threshold",
            "order": "all validation splits scored and thresholds fixed before any test split; "
            "each test split scored once",
            "budgets": list(budgets),
            "bootstrap": f"{bootstrap} replicates resampling whole sessions / user-days (seed {seed}); "
            "95 % percentile interval",
            "alert_budget": f"{alerts_per_100_users_per_day:g} alerts per 100 users per day of the test "
            "period: the highest-scored raw events",
            "budget_ties": "k = ceil(fraction * n) items; items tied at the cutoff share the "
            "remaining slots equally (expected value of random tie-breaking)",
            "unscored": "NaN scores are excluded from every metric and counted",
            "items": "real-time: every raw event of the test sessions (a collapsed repeat scored as "
            "the activity it repeats; start-of-session tokens are no items); post-hoc: "
            "sequences, malicious iff they hold a malicious raw event",
            "session_scores": "aggregated from the real-time scores (detector's default post-hoc score)"
            if score.default_posthoc
            else "detector.score_sequences",
            "scoring_seconds": score.seconds,
            "new_users_learned": f"after thresholds, before test: the normal validation events of "
            f"{learned} user(s) the detector had not seen in training became their history"
            if learn_new_users
            else "no (test scored with the training history)",
        },
    }
    if keep_scores:
        out["arrays"] = arrays
    return out


def _learn_new_users(detector: Detector, data: EvalData) -> int:
    """Hand the session validation split with its labels to the detector (`learn_new_users`);
    returns how many users it learned."""
    val = data.sessions.get("validation")
    if val is None or not len(val.seqs):
        return 0
    return detector.learn_new_users(val.seqs, val.labels)


def _window_scores(score: _Scorer, window: Split, val: Split, val_scores: np.ndarray) -> np.ndarray:
    """Activity scores of the calibration window. Its held-out users' sequences are validation
    sequences, scored already: their scores are reused (a sequence is known by the events.parquet
    row of its last activity), the rest of the window is scored now."""
    w, v = window.seqs, val.seqs
    v_row = {int(r): j for j, r in enumerate(v.event_rows[v.offsets[1:] - 1].tolist()) if r >= 0}
    partner = np.array([v_row.get(int(r), -1) for r in w.event_rows[w.offsets[1:] - 1].tolist()], dtype=np.int64)
    same = np.flatnonzero(partner >= 0)
    if same.size == 0 or (w.lengths[same] != v.lengths[partner[same]]).any():
        return score(REALTIME, "calibration", w)
    out = np.empty(w.n_activities, dtype=np.float64)
    out[segment_positions(w.offsets, same)] = val_scores[segment_positions(v.offsets, partner[same])]
    rest = np.flatnonzero(partner < 0)
    if rest.size:
        out[segment_positions(w.offsets, rest)] = score(REALTIME, "calibration", w.subset(rest))
    return out


def _alerting_arrays(split: Split, scores: np.ndarray) -> dict[str, np.ndarray]:
    """What alert calibration reads of a split: scores, users and times only (no labels), per
    activity of the sequences — as live, where a collapsed repeat raises no alert and moves no
    risk (its activity's did), so alerting is calibrated and evaluated on these, not raw events."""
    return {"scores": scores, "users": split.users(), "times": split.seqs.times}


def _level_arrays(level: str, test: Split, scores: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    if level == REALTIME:
        _, scenarios, insiders = test.raw_truth()
        return {
            "scores": scores,
            "labels": y,
            "times": test.seqs.raw_event_times(),
            "users": test.raw_users(),
            "insiders": insiders,
            "scenarios": scenarios,
        }
    return {"scores": scores, "labels": y}


# -- a prepared WORK folder ------------------------------------------------------------------
def _load_sequences(work: WorkDir, kind: str) -> SequenceSet | None:
    """The sequence set of `kind` (through sequences.build); None if absent."""
    from neighborwatch.sequences.build import load_sequences

    try:
        return load_sequences(work.root, kind=kind)
    except FileNotFoundError:
        return None


def row_insiders(work: WorkDir, rows: np.ndarray) -> dict[int, str]:
    """{events.parquet row: insider id} from labels.parquet for the given rows (where known)."""
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    if not rows.size or not work.labels.exists():
        return {}
    ids = (
        pl.scan_parquet(work.events)
        .select("event_id")
        .with_row_index("row")
        .filter(pl.col("row").is_in(rows.tolist()))
        .collect()
    )
    lab = pl.read_parquet(work.labels, columns=["event_id", "insider"])
    joined = ids.join(lab, on="event_id", how="inner").filter(pl.col("insider").is_not_null())
    return dict(zip(joined["row"].to_list(), joined["insider"].to_list()))


def _split(part: SequenceSet, malicious: np.ndarray, scenario: np.ndarray, work: WorkDir) -> Split:
    """One split with labels, scenarios and insiders from the raw events (insider falls back to
    the account)."""
    raw_y = raw_labels(part, malicious)
    raw_sc = np.where(raw_y, part.raw_values(scenario, 0).astype(np.int64), 0)
    pos = part.raw_positions()
    raw_ins = np.where(raw_y, part.meta["user"].to_numpy().astype(object)[part.raw_seq_index()], "").astype(object)
    if raw_y.any():
        rows = part.raw_event_rows()
        lookup = row_insiders(work, rows[raw_y])
        for i in np.flatnonzero(raw_y):
            raw_ins[i] = lookup.get(int(rows[i])) or raw_ins[i]
    y = activity_labels(part, malicious)
    sc = np.zeros(part.n_activities, dtype=np.int64)
    np.maximum.at(sc, pos, raw_sc)
    ins = np.full(part.n_activities, "", dtype=object)
    ins[pos[raw_y]] = raw_ins[raw_y]
    return Split(part, y, sc, ins, raw_y, raw_sc, raw_ins)


def sequence_provenance(work: WorkDir) -> dict[str, Any]:
    """Split dates and how the sequences were built (WORK/sequences/config.json, minus the
    tokenizer's vocabulary, which can be long; its type is kept)."""
    path = work.sequences / "config.json"
    if not path.exists():
        return {"split_dates": None, "sequences": None}
    cfg = json.loads(path.read_text())
    tok = cfg.get("tokenizer")
    seq = {k: v for k, v in cfg.items() if k not in ("tokenizer", "split")}
    seq["tokenizer"] = tok.get("type", tok.get("name")) if isinstance(tok, dict) else tok
    return {"split_dates": cfg.get("split"), "sequences": seq}


def load_eval_data(work: str | Path | WorkDir) -> EvalData:
    """Validation and test splits of a prepared WORK folder with their ground truth (and the
    calibration window the alert thresholds are set on)."""
    from neighborwatch.sequences.build import calibration_window
    from neighborwatch.sequences.splits import SplitDates

    work = WorkDir(work) if not isinstance(work, WorkDir) else work
    work.require()
    sessions = _load_sequences(work, "session")
    if sessions is None:
        raise FileNotFoundError(f"{work.root} has no session sequences; run `neighborwatch prepare`")
    days = _load_sequences(work, "day")
    malicious, scenario = row_labels(work)
    config = {"work": str(work.root.resolve()), **sequence_provenance(work)}
    parts = {n: sessions.split(n) for n in ("validation", "test")}
    if config["split_dates"]:  # the alert thresholds' window (evaluation.alerting)
        window = calibration_window(sessions, SplitDates.from_json(config["split_dates"]))
        if window.n_activities:
            parts["calibration"] = window
    return EvalData(
        sessions={n: _split(p, malicious, scenario, work) for n, p in parts.items()},
        days=None
        if days is None
        else {n: _split(days.split(n), malicious, scenario, work) for n in ("validation", "test")},
        config=config,
    )


def evaluate_detector(
    detector: Detector,
    work: str | Path | WorkDir,
    model_dir: str | Path | None = None,
    seed: int | None = None,
    levels: Sequence[str] = LEVELS,
    keep_scores: bool = False,
) -> dict[str, Any]:
    """The full protocol on a prepared WORK folder, with a provenance block under "config"."""
    data = load_eval_data(work)
    result = evaluate_on(detector, data, levels=levels, keep_scores=keep_scores)
    manifest: dict[str, Any] = {}
    if model_dir is not None and (Path(model_dir) / "detector.json").exists():
        manifest = json.loads((Path(model_dir) / "detector.json").read_text())
    if seed is None:
        seed = (manifest.get("config") or {}).get("seed")
    result["config"] = {
        **data.config,
        "model": str(Path(model_dir).resolve()) if model_dir is not None else None,
        "detector": detector.name,
        "detector_config": manifest.get("config"),
        "seed": seed,
        "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "counts": {
            f"{kind}.{n}": len(s.seqs)
            for kind, splits in (("session", data.sessions), ("day", data.days or {}))
            for n, s in splits.items()
        },
    }
    return result
