"""Assemble a live engine from a saved model (+ the WORK folder it was trained on).

The WORK folder supplies what must match the batch inputs exactly — the tokenizer and the
repeat-collapse switch (`sequences/config.json`) — and the validation period the alert
thresholds are calibrated on. Without it the paper's word-hour tokenizer and collapse are used
and thresholds must be given explicitly. Sequences prepared with peer-group start tokens
(`prepare --start-token peer`) open each live session with the user's group token too. The model folder may hold the training period's familiarity
profile (`sequences.familiarity`, saved by `train`); alerts then say whether the activity is a
first for the user and how rare it is among the user's peers (older model folders: no such reason).
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from neighborwatch.models.base import Detector
from neighborwatch.models.registry import load_detector
from neighborwatch.models.stream import StreamScorer
from neighborwatch.sequences.base import SequenceSet
from neighborwatch.sequences.familiarity import FamiliarityProfile, tokenizer_fingerprint
from neighborwatch.sequences.peers import StartGroups
from neighborwatch.sequences.tokenize import Tokenizer, WordHourTokenizer, bos_token, tokenizer_from_json
from neighborwatch.streaming.alerts import Thresholds, calibrate
from neighborwatch.streaming.engine import Engine, EngineConfig

log = logging.getLogger("neighborwatch.loader")
US = 1_000_000


def stream_scorer(detector: Detector, work: str | Path | None = None) -> StreamScorer:
    """The detector's own live scorer; with WORK, neighbour reasons cite its events."""
    scorer = detector.stream_scorer()
    if scorer is None:
        raise ValueError(f"the {detector.name!r} detector cannot score live (it has no stream scorer)")
    if work is not None and (Path(work) / "events.parquet").exists():
        scorer.event_details = partial(event_details, Path(work) / "events.parquet")
    return scorer


def event_details(events: Path, rows: np.ndarray) -> dict[int, dict[str, Any]]:
    """user/host/time/activity of the given events.parquet rows (read once, when first needed)."""
    df = (
        pl.scan_parquet(events)
        .select("time", "user", "host", "source", "action")
        .with_row_index("row")
        .filter(pl.col("row").is_in(np.asarray(rows).tolist()))
        .collect()
    )
    return {
        int(r["row"]): {
            "user": r["user"],
            "host": r["host"],
            "time": r["time"].isoformat(),
            "last_activity": f"{r['source']}/{r['action']}",
        }
        for r in df.iter_rows(named=True)
    }


def tokenizer_for(detector: Detector, work: str | Path | None) -> tuple[Tokenizer, bool]:
    """(tokenizer, collapse) the model's training sequences were built with."""
    if work is not None:
        from neighborwatch.sequences.build import load_config

        cfg = load_config(work)
        return tokenizer_from_json(cfg["tokenizer"]), bool(cfg.get("collapse", True))
    tok = getattr(detector, "tokenizer", None)
    if isinstance(tok, dict):
        return tokenizer_from_json(tok), True
    log.warning("no WORK folder: assuming the paper's word-hour tokenizer and repeat collapse")
    return WordHourTokenizer(), True


def start_groups_for(detector: Detector, work: str | Path | None) -> StartGroups | None:
    """The peer-group start tokens the model's training sequences began with (None: one plain
    start token): from WORK, else from what the model saved."""
    if work is not None:
        from neighborwatch.sequences.build import load_start_groups

        return load_start_groups(work)
    obj = getattr(detector, "start_groups", None)
    return StartGroups.from_json(obj) if isinstance(obj, dict) else None


def familiarity_for(model_dir: str | Path, tok: Tokenizer) -> FamiliarityProfile | None:
    """The model's familiarity profile if it was built with the tokens the engine computes."""
    try:
        profile = FamiliarityProfile.load(model_dir)
    except Exception as e:  # noqa: BLE001 — a reason must never keep the model from serving
        log.warning("%s: familiarity profile unreadable (%s); alerts go without it", model_dir, e)
        return None
    if profile is None:
        return None
    built, live = profile.meta.get("tokenizer"), tokenizer_fingerprint(tok.to_json())
    if built is not None and built != live:
        log.warning("%s: familiarity profile built with another tokenizer; alerts go without it", model_dir)
        return None
    return profile


def calibrate_for_work(
    detector: Detector,
    work: str | Path,
    budget_per_day: float,
    half_life_s: float,
    sessions: SequenceSet | None = None,
) -> Thresholds:
    """Score the calibration window (`sequences.splits`) in batch (= what live scoring gives) and
    fit the thresholds (see `evaluation.alerting`); `sessions`: WORK's, when already loaded."""
    from neighborwatch.sequences.build import calibration_window, load_sequences, load_split_dates

    sessions = sessions if sessions is not None else load_sequences(work, "session")
    seqs = calibration_window(sessions, load_split_dates(work))
    if seqs.n_activities == 0:
        raise ValueError(f"{work} has no sessions in the calibration window to calibrate alert thresholds on")
    scores = detector.score_activities(seqs)
    users = np.repeat(seqs.meta["user"].to_numpy(), seqs.lengths)
    # the budget is per 100 of these users per day of their activity (calibrate's span)
    return calibrate(scores, seqs.times, users, budget_per_day, half_life_s, source=f"calibration window of {work}")


def validation_normal(work: str | Path, sessions: SequenceSet | None = None) -> tuple[SequenceSet, np.ndarray] | None:
    """WORK's validation sessions and their per-position labels (all False without labels in
    WORK: every event counts as normal), or None without validation sessions."""
    from neighborwatch.data.labels import row_labels
    from neighborwatch.sequences.base import activity_labels
    from neighborwatch.sequences.build import load_sequences

    sessions = sessions if sessions is not None else load_sequences(work, "session")
    validation = sessions.split("validation")
    if not len(validation):
        return None
    malicious, _ = row_labels(work)
    return validation, activity_labels(validation, malicious)


def _keeps_users(detector: Detector) -> bool:
    """Whether the detector has per-user state to learn (it overrides `learn_new_users`)."""
    return type(detector).learn_new_users is not Detector.learn_new_users


def _thresholds(
    det: Detector,
    work: str | Path | None,
    budget_per_day: float,
    half_life_s: float,
    thresholds: Thresholds | str | Path | None,
    sessions: SequenceSet | None,
) -> Thresholds:
    """The given thresholds, or those calibrated on WORK's calibration window, or none."""
    if isinstance(thresholds, (str, Path)):
        return Thresholds.load(Path(thresholds))
    if thresholds is not None:
        return thresholds
    if work is not None:
        return calibrate_for_work(det, work, budget_per_day, half_life_s, sessions)
    log.warning("no WORK folder and no thresholds: alerts are off (scores are still produced)")
    return Thresholds(half_life_s=half_life_s)


def build_engine(
    model_dir: str | Path,
    work: str | Path | None = None,
    budget_per_day: float = 5.0,
    half_life_s: float = 24 * 3600.0,
    thresholds: Thresholds | str | Path | None = None,
    config: EngineConfig | None = None,
    detector: Detector | None = None,
) -> Engine:
    """A ready engine: scorer, tokenizer, collapse rule and thresholds (given, or calibrated).

    With WORK the order is the evaluation protocol's: thresholds first (calibrated with the
    training history), then the users held out for validation are learned
    (`validation_normal`), so that the service scores the test period as `evaluate` does."""
    from neighborwatch.sequences.build import load_sequences

    det = detector if detector is not None else load_detector(model_dir)
    tok, collapse = tokenizer_for(det, work)
    familiarity = familiarity_for(model_dir, tok)
    # the users held out for validation will learn their normal validation events: the model's
    # per-user counts (`Detector.learn_new_users`) and the familiarity reasons' "first time"
    learners = _keeps_users(det) or familiarity is not None
    # WORK's sessions, read once: for calibrating and for learning the held-out users, if needed
    needed = thresholds is None or learners
    sessions = load_sequences(work, "session") if work is not None and needed else None
    th = _thresholds(det, work, budget_per_day, half_life_s, thresholds, sessions)
    validation = validation_normal(work, sessions) if work is not None and learners else None
    if validation is not None:
        learned = det.learn_new_users(*validation)
        if learned:
            log.info("%d user(s) held out for validation learned from their normal validation events", learned)
        if familiarity is not None:
            familiarity = familiarity.with_new_users(*validation)
    scorer = stream_scorer(det, work)
    cfg = config or EngineConfig()
    cfg.collapse = collapse
    starts = start_groups_for(det, work)
    if work is not None:  # the session rule the training sequences were cut with (stream = batch)
        from neighborwatch.sequences.build import load_bos, load_config

        cfg.session_rule = load_config(work).get("session_rule")
        cfg.bos = load_bos(work)  # the start-of-session token the model was trained with
    elif starts is not None:
        cfg.bos = starts.bos
    elif scorer.vocab_size == tok.vocab_size + 1:  # no WORK: a model with one class more has BOS
        cfg.bos = bos_token(tok.vocab_size)
    elif scorer.vocab_size != tok.vocab_size:  # e.g. peer-group start tokens the model did not save
        raise ValueError(
            f"the model has {scorer.vocab_size} classes but the tokenizer it implies has {tok.vocab_size}: "
            "give the WORK folder it was trained on"
        )
    decode = getattr(tok, "decode", None) or (lambda t: (f"token {t}", None))
    return Engine(scorer, tok.transform, decode, th, cfg, familiarity=familiarity, start_groups=starts)


def describe(engine: Engine) -> dict[str, Any]:
    return {
        "scorer": engine.scorer.config(),
        "thresholds": engine.thresholds.to_json(),
        "engine": engine.config.to_json(),
        "familiarity": None if engine.familiarity is None else engine.familiarity.meta,
    }
