"""WORK/events.parquet → WORK/sequences/{session,day}/ + config.json (the `prepare` tail).

Reads only the columns a detector may see (time, user, host, source, action) for the inputs —
labels only to stratify the held-out validation users (`splits.validation_users`), never for a
token, a sequence or a time — tokenizes every event, groups events into sessions and user-days (`sessionize`), optionally
collapses repeats (label-blind; each collapsed repeat stays in the set as a raw event scored by
the activity it repeats), prepends a start-of-session token (BOS, so the first activity is scored
too; with `peer_start` one per peer group, `sequences.peers`), assigns train / validation / test by each sequence's first event (`splits`) and saves both
`SequenceSet`s. `config.json` records everything a later stage
needs to rebuild the same inputs from live events: the tokenizer (JSON), collapse, split dates.

Tokenizer choice: CERT data (summary.json `format` "cert" or `release` starting with "r") gets
the paper's `WordHourTokenizer`; other logs get `ActionHourTokenizer`, fitted on the training
events (those before the validation start, or — validation by held-out users — the other users'
events before the test cut; up to sessions that straddle a cut). Pass `tokenizer=` (a name,
or an instance: used as given if fitted, fitted on the training period if not) to override.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from neighborwatch.progress import progress
from neighborwatch.sequences.base import META_SCHEMA, SequenceSet
from neighborwatch.sequences.peers import StartGroups, read_organisation
from neighborwatch.sequences.sessionize import (
    Grouping,
    SessionRule,
    closed_by_logoff,
    default_rule,
    length_distribution,
    sessions,
    user_days,
)
from neighborwatch.sequences.splits import (
    DEFAULT_SPLIT_SEED,
    SPLITS,
    VALIDATION_RULES,
    VALIDATION_USER_SHARE,
    SplitDates,
    assign_splits,
    calibration_ids,
    check_splits,
    split_dates,
    to_epoch_us,
    validation_users,
    with_calibration_floor,
)
from neighborwatch.sequences.tokenize import (
    ActionHourTokenizer,
    Tokenizer,
    WordHourTokenizer,
    bos_token,
    collapse_mask,
    collapse_offsets,
    extra_columns,
    make_tokenizer,
    prepend_start,
    tokenizer_from_json,
)
from neighborwatch.workdir import WorkDir, write_json

KINDS = ("session", "day")
INPUT_COLUMNS = ("time", "user", "host", "source", "action")


def _work(work: WorkDir | str | Path) -> WorkDir:
    return work if isinstance(work, WorkDir) else WorkDir(work)


def read_sequence_inputs(work: WorkDir, extra: tuple[str, ...] = ()) -> pl.DataFrame:
    """The detector-visible columns of events.parquet, row i = event row i. Strings become
    Categorical (4 bytes per event instead of ~16) so that ~30 M events stay within a few GB.
    `extra`: detail columns a tokenizer reads (e.g. the context tokenizer's), where present."""
    schema = pl.read_parquet_schema(work.events)
    missing = [c for c in INPUT_COLUMNS if c not in schema]
    if missing:
        raise ValueError(f"{work.events} lacks columns {missing}")
    cat = ("user", "host", "source", "action")
    return (
        pl.scan_parquet(work.events)
        .select(
            [pl.col("time").cast(pl.Datetime("us"))]
            + [pl.col(c).cast(pl.Utf8).cast(pl.Categorical) for c in cat]
            + [pl.col(c) for c in extra if c in schema]
        )
        .collect()
    )


def is_cert(summary: dict[str, Any]) -> bool:
    """CERT data: summary.json says format 'cert' or names a release like 'r4' / 'r6.2'."""
    release = str(summary.get("release") or "").lower()
    return summary.get("format") == "cert" or release.startswith("r")


def default_tokenizer(summary: dict[str, Any]) -> Tokenizer:
    """WordHourTokenizer for CERT data, ActionHourTokenizer (fitted on training) otherwise."""
    return WordHourTokenizer() if is_cert(summary) else ActionHourTokenizer()


def _resolve_tokenizer(
    tokenizer: Tokenizer | str | None,
    summary: dict[str, Any],
    events: pl.DataFrame,
    dates: SplitDates,
    held_out: set[str] | None = None,
) -> Tokenizer:
    if tokenizer is None:
        tok = default_tokenizer(summary)
    elif isinstance(tokenizer, str):
        tok = make_tokenizer(tokenizer)
    else:
        tok = tokenizer
        if getattr(tok, "fitted", True):
            return tok  # a ready-made tokenizer is used as given
    # what the model trains on: before the validation / calibration days, without held-out users
    train = events.filter(pl.col("time") < dates.val_start)
    if held_out is not None:
        train = train.filter(~pl.col("user").cast(pl.Utf8).is_in(sorted(held_out)))
    # per-user facts (own host, habit): every user's label-free events before the test cut
    profile = events.filter(pl.col("time") < dates.test_start)
    return tok.fit(train if train.height else events, profile_events=profile)


def to_sequence_set(
    events: pl.DataFrame,
    grouping: Grouping,
    tokens: np.ndarray,
    times: np.ndarray,
    kind: str,
    dates: SplitDates,
    collapse: bool,
    vocab_size: int,
    rule: SessionRule | None = None,
    bos: int = 0,
    held_out: set[str] | None = None,
) -> SequenceSet:
    """Gather tokens/times/rows into a SequenceSet in sequence order, collapse, prepend the
    start-of-session token `bos` (0 = none; `vocab_size` must already count it), assign splits."""
    rows, offsets = grouping.rows, grouping.offsets
    first, last = grouping.first_rows, grouping.last_rows
    raw_lengths = grouping.lengths
    seq_tokens = tokens[rows]
    raw: dict[str, np.ndarray | None] = {"repeats": None, "raw_rows": None, "raw_times": None}
    if collapse:
        keep = collapse_mask(seq_tokens, offsets)
        scored_by = np.cumsum(keep, dtype=np.int64) - 1  # kept position scoring each raw event
        raw = {
            "repeats": np.bincount(scored_by, minlength=int(keep.sum())).astype(np.int32),
            "raw_rows": rows,
            "raw_times": times[rows],
        }
        offsets = collapse_offsets(keep, offsets)
        rows, seq_tokens = rows[keep], seq_tokens[keep]
    seq_times = times[rows]
    if bos:
        offsets, moved = prepend_start(offsets)
        starts = offsets[:-1]
        n_pos = int(offsets[-1])
        new_tokens = np.full(n_pos, bos, dtype=np.int32)
        new_tokens[moved] = seq_tokens
        new_rows = np.full(n_pos, -1, dtype=np.int64)
        new_rows[moved] = rows
        new_times = np.empty(n_pos, dtype=np.int64)
        new_times[moved] = seq_times
        new_times[starts] = times[first]  # BOS carries the session's start time
        if raw["repeats"] is not None:
            reps = np.zeros(n_pos, dtype=np.int32)
            reps[moved] = raw["repeats"]
            raw["repeats"] = reps
        seq_tokens, rows, seq_times = new_tokens, new_rows, new_times
    start_us, end_us = times[first], times[last]
    n = len(first)
    user = events["user"].gather(first).cast(pl.Utf8)
    meta = {
        "seq_id": np.arange(n, dtype=np.int64),
        "user": user,
        "host": events["host"].gather(first).cast(pl.Utf8)
        if kind == "session"
        else pl.Series([None] * n, dtype=pl.Utf8),
        "start": pl.Series(start_us, dtype=pl.Int64).cast(pl.Datetime("us")),
        "end": pl.Series(end_us, dtype=pl.Int64).cast(pl.Datetime("us")),
        "length": np.diff(offsets).astype(np.int32),
        "split": None,
    }
    meta["split"] = assign_splits(start_us, dates, user.to_numpy(), held_out).astype(str)
    frame = pl.DataFrame({k: meta[k] for k in META_SCHEMA}, schema=META_SCHEMA)
    frame = frame.with_columns(pl.Series("raw_length", raw_lengths.astype(np.int32)))
    if kind == "session":
        frame = frame.with_columns(pl.Series("closed", closed_by_logoff(events, grouping, rule)))
    else:
        frame = frame.with_columns(pl.col("start").dt.date().alias("day"))
    return SequenceSet(
        tokens=seq_tokens,
        offsets=offsets,
        event_rows=rows,
        times=seq_times,
        meta=frame,
        kind=kind,
        vocab_size=vocab_size,
        extra={"collapse": collapse, "split": dates.to_json(), "bos": int(bos)},
        **raw,  # type: ignore[arg-type]
    )


#: (events, fitted tokenizer, rule) → (tokens per event row, sessions, user-days)
GroupingStage = Callable[[pl.DataFrame, Tokenizer, SessionRule], tuple[np.ndarray, Grouping, Grouping]]


def tokenize_and_group(
    events: pl.DataFrame, tok: Tokenizer, rule: SessionRule
) -> tuple[np.ndarray, Grouping, Grouping]:
    """Tokens, sessions and user-days of `events`: each depends only on one user's events."""
    return tok.transform(events), sessions(events, rule), user_days(events)


def build_sequences(
    work: WorkDir | str | Path,
    collapse: bool = True,
    val_start: str | None = None,
    test_start: str | None = None,
    tokenizer: Tokenizer | str | None = None,
    session_rule: SessionRule | None = None,
    start_token: bool = True,
    peer_start: bool = False,
    validation: str = "users",
    validation_share: float = VALIDATION_USER_SHARE,
    split_seed: int = DEFAULT_SPLIT_SEED,
    stage: GroupingStage | None = None,
) -> dict[str, Any]:
    """Build, save and describe the session and user-day sequence sets of a WORK folder
    (`start_token`: prepend BOS to every sequence, see `tokenize.bos_token`; `peer_start`: one
    start token per peer group instead, `peers.StartGroups`; `validation`: the
    rule of `splits.VALIDATION_RULES`; `session_rule`: the paper's rule for CERT data, the action + idle
    rule otherwise; `stage`: replaces `tokenize_and_group`, the Ray engine runs it per chunk of
    users)."""
    before: list[str] = []
    if validation not in VALIDATION_RULES:
        raise ValueError(f"validation must be one of {VALIDATION_RULES}, got {validation!r}")
    asked = validation
    work = _work(work).require()
    summary = work.read_summary()
    release = summary.get("release")
    with progress() as p:
        task = p.add_task("sequences: read events", total=5)
        events = read_sequence_inputs(work, extra_columns(tokenizer))
        if events.height == 0:
            raise ValueError(f"{work.events} holds no events; nothing to build sequences from")
        p.update(task, advance=1, description="sequences: tokenize")
        span_start, span_end = events["time"].min(), events["time"].max()
        assert isinstance(span_start, datetime) and isinstance(span_end, datetime)  # a Datetime column with rows
        times = events["time"].cast(pl.Int64).to_numpy()
        dates = split_dates(release, span_start, span_end, val_start=val_start, test_start=test_start, times_us=times)
        held_out = None
        if validation == "users":
            before = events.filter(pl.col("time") < dates.test_start)["user"].cast(pl.Utf8).unique().to_list()
            held_out = validation_users(before, _validation_strata(work, dates), validation_share, split_seed)
            if not held_out or len(held_out) == len(before):  # too few users to hold any out
                validation, held_out = "period", None
            else:
                dates = with_calibration_floor(dates, span_start)
        tok = _resolve_tokenizer(tokenizer, summary, events, dates, held_out)
        bos = bos_token(tok.vocab_size) if start_token else 0
        vocab_size = tok.vocab_size + (1 if bos else 0)
        counts: dict[str, Any] = {}
        rule = session_rule or default_rule(is_cert(summary))
        tokens, session_groups, day_groups = (stage or tokenize_and_group)(events, tok, rule)
        built: dict[str, SequenceSet] = {}
        for kind in KINDS:
            p.update(task, advance=1, description=f"sequences: {kind}s")
            grouping = session_groups if kind == "session" else day_groups
            seqs = to_sequence_set(
                events, grouping, tokens, times, kind, dates, collapse, vocab_size, rule, bos, held_out
            )
            check_splits(seqs.meta["split"].to_numpy(), dates, validation, (span_start, span_end))
            seqs.extra["tokenizer"] = tok.to_json()  # travels into the model folder (LAN vocab.json)
            built[kind] = seqs
        starts = None
        if peer_start and bos:  # fitted on the training sessions, the same for sessions and days
            starts = StartGroups.fit(bos, built["session"], read_organisation(work), split_seed)
            vocab_size = bos + starts.n_tokens
        for kind, seqs in built.items():
            if starts is not None:
                starts.apply(seqs)
            seqs.save(work.sequence_set(kind))
            counts[kind] = _counts(seqs)
        p.update(task, advance=1, description="sequences: config")
        config = {
            "tokenizer": tok.to_json(),
            "vocab_size": vocab_size,  # the tokenizer's classes + the start token(s)
            "bos": bos,  # start-of-session token fed at every session open (0 = none)
            # one start token per peer group (bos + group index), None: every session starts with bos
            "start_groups": None if starts is None else starts.to_json(),
            "collapse": collapse,
            "session_rule": rule.to_json(),
            "session_lengths": length_distribution(session_groups, times),
            "release": release,
            "split": dates.to_json(),
            "validation": {
                "rule": validation,
                "asked": asked,
                "share": validation_share,
                "seed": split_seed,
                "users": None if held_out is None else sorted(held_out),
                "users_before_test": len(before) if held_out is not None else None,
            },
            "span": {"start": _iso(span_start), "end": _iso(span_end)},
            "events": events.height,
            "counts": counts,
        }
        write_json(work.sequences / "config.json", config)
        p.update(task, advance=1, description="sequences: done")
    return config


def _validation_strata(work: WorkDir, dates: SplitDates) -> dict[str, int]:
    """{insider account: scenario of its first malicious event} for insiders active before the
    test cut — used ONLY to stratify the held-out validation users (labels never shape inputs)."""
    if not work.labels.exists():
        return {}
    labels = pl.read_parquet(work.labels, columns=["event_id", "malicious", "scenario"]).filter(pl.col("malicious"))
    ev = pl.scan_parquet(work.events).select("event_id", pl.col("user").cast(pl.Utf8), "time")
    hits = (
        ev.join(labels.lazy(), on="event_id", how="inner")
        .filter(pl.col("time").cast(pl.Datetime("us")).cast(pl.Int64) < to_epoch_us(dates.test_start))
        .sort("time")
        .group_by("user")
        .agg(pl.col("scenario").first().fill_null(1))
        .collect()
    )
    return {u: max(1, int(sc)) for u, sc in zip(hits["user"].to_list(), hits["scenario"].to_list())}


def _iso(d: datetime) -> str:
    return d.isoformat()


def _counts(seqs: SequenceSet) -> dict[str, Any]:
    split = seqs.meta["split"]
    out: dict[str, Any] = {
        "sequences": len(seqs),
        "activities": seqs.n_activities,
        "raw_activities": int(seqs.meta["raw_length"].sum() or 0),
        "scored_raw_events": int(seqs.raw_counts().sum()),
    }
    lengths = seqs.lengths
    for name in SPLITS:
        m = (split == name).to_numpy()
        out[name] = {"sequences": int(m.sum()), "activities": int(lengths[m].sum())}
    return out


def load_config(work: WorkDir | str | Path) -> dict[str, Any]:
    path = _work(work).sequences / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"no sequences in {_work(work).root}; run `neighborwatch prepare` first")
    return json.loads(path.read_text())


def load_sequences(work: WorkDir | str | Path, kind: str = "session") -> SequenceSet:
    """The saved session ('session') or user-day ('day') SequenceSet of a WORK folder."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    path = _work(work).sequence_set(kind)
    if not (path / "arrays.npz").exists():
        raise FileNotFoundError(f"no {kind} sequences at {path}; run `neighborwatch prepare` first")
    return SequenceSet.load(path)


def load_tokenizer(work: WorkDir | str | Path) -> Tokenizer:
    """The tokenizer the sequences of a WORK folder were built with (for live events)."""
    return tokenizer_from_json(load_config(work)["tokenizer"])


def load_bos(work: WorkDir | str | Path) -> int:
    """The start-of-session token the sequences of a WORK folder begin with (0 = none; folders
    prepared before BOS existed have none)."""
    return int(load_config(work).get("bos") or 0)


def load_start_groups(work: WorkDir | str | Path) -> StartGroups | None:
    """The peer-group start tokens of a WORK folder (None: one plain start token, or none)."""
    obj = load_config(work).get("start_groups")
    return None if obj is None else StartGroups.from_json(obj)


def load_split_dates(work: WorkDir | str | Path) -> SplitDates:
    return SplitDates.from_json(load_config(work)["split"])


def calibration_window(seqs: SequenceSet, dates: SplitDates) -> SequenceSet:
    """The sequences the alert thresholds are calibrated on (`splits.calibration_ids`)."""
    start = seqs.meta["start"].cast(pl.Datetime("us")).cast(pl.Int64).to_numpy()
    return seqs.subset(calibration_ids(seqs.meta["split"].to_numpy(), start, dates))
