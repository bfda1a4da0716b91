"""WORK/events.parquet → WORK/sequences/{session,day}/ + config.json (the `prepare` tail).

Reads only the columns a detector may see (time, user, host, source, action) — never labels —
tokenizes every event, groups events into sessions and user-days (`sessionize`), optionally
collapses repeats (label-blind), assigns train / validation / test by each sequence's first
event (`splits`) and saves both `SequenceSet`s. `config.json` records everything a later stage
needs to rebuild the same inputs from live events: the tokenizer (JSON), collapse, split dates.

Tokenizer choice: CERT data (summary.json `format` "cert" or `release` starting with "r") gets
the paper's `WordHourTokenizer`; other logs get `ActionHourTokenizer`, fitted on the events
before the validation start (the training period: sequences are split by their first event, so
this is the training period up to sessions that straddle the cut). Pass `tokenizer=` (a name,
or an instance: used as given if fitted, fitted on the training period if not) to override.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from neighborwatch.progress import progress
from neighborwatch.sequences.base import META_SCHEMA, SequenceSet
from neighborwatch.sequences.sessionize import (
    Grouping,
    SessionRule,
    closed_by_logoff,
    default_rule,
    length_distribution,
    sessions,
    user_days,
)
from neighborwatch.sequences.splits import SplitDates, assign_splits, split_dates
from neighborwatch.sequences.tokenize import (
    ActionHourTokenizer,
    Tokenizer,
    WordHourTokenizer,
    collapse_mask,
    collapse_offsets,
    make_tokenizer,
    tokenizer_from_json,
)
from neighborwatch.workdir import WorkDir, write_json

KINDS = ("session", "day")
INPUT_COLUMNS = ("time", "user", "host", "source", "action")


def _work(work: WorkDir | str) -> WorkDir:
    return work if isinstance(work, WorkDir) else WorkDir(work)


def read_sequence_inputs(work: WorkDir) -> pl.DataFrame:
    """The detector-visible columns of events.parquet, row i = event row i. Strings become
    Categorical (4 bytes per event instead of ~16) so that ~30 M events stay within a few GB."""
    schema = pl.read_parquet_schema(work.events)
    missing = [c for c in INPUT_COLUMNS if c not in schema]
    if missing:
        raise ValueError(f"{work.events} lacks columns {missing}")
    cat = ("user", "host", "source", "action")
    return pl.scan_parquet(work.events).select(
        [pl.col("time").cast(pl.Datetime("us"))] + [pl.col(c).cast(pl.Utf8).cast(pl.Categorical) for c in cat]
    ).collect()


def is_cert(summary: dict[str, Any]) -> bool:
    """CERT data: summary.json says format 'cert' or names a release like 'r4' / 'r6.2'."""
    release = str(summary.get("release") or "").lower()
    return summary.get("format") == "cert" or release.startswith("r")


def default_tokenizer(summary: dict[str, Any]) -> Tokenizer:
    """WordHourTokenizer for CERT data, ActionHourTokenizer (fitted on training) otherwise."""
    return WordHourTokenizer() if is_cert(summary) else ActionHourTokenizer()


def _resolve_tokenizer(tokenizer: Tokenizer | str | None, summary: dict[str, Any], events: pl.DataFrame,
                       dates: SplitDates) -> Tokenizer:
    if tokenizer is None:
        tok = default_tokenizer(summary)
    elif isinstance(tokenizer, str):
        tok = make_tokenizer(tokenizer)
    else:
        tok = tokenizer
        if getattr(tok, "fitted", True):
            return tok  # a ready-made tokenizer is used as given
    train = events.filter(pl.col("time") < dates.val_start)
    return tok.fit(train if train.height else events)


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
) -> SequenceSet:
    """Gather tokens/times/rows into a SequenceSet in sequence order, collapse, assign splits."""
    rows, offsets = grouping.rows, grouping.offsets
    first, last = grouping.first_rows, grouping.last_rows
    raw_lengths = grouping.lengths
    seq_tokens = tokens[rows]
    if collapse:
        keep = collapse_mask(seq_tokens, offsets)
        offsets = collapse_offsets(keep, offsets)
        rows, seq_tokens = rows[keep], seq_tokens[keep]
    start_us, end_us = times[first], times[last]
    n = len(first)
    meta = {
        "seq_id": np.arange(n, dtype=np.int64),
        "user": events["user"].gather(first).cast(pl.Utf8),
        "host": events["host"].gather(first).cast(pl.Utf8) if kind == "session" else pl.Series([None] * n, dtype=pl.Utf8),
        "start": pl.Series(start_us, dtype=pl.Int64).cast(pl.Datetime("us")),
        "end": pl.Series(end_us, dtype=pl.Int64).cast(pl.Datetime("us")),
        "length": np.diff(offsets).astype(np.int32),
        "split": assign_splits(start_us, dates).astype(str),
    }
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
        times=times[rows],
        meta=frame,
        kind=kind,
        vocab_size=vocab_size,
        extra={"collapse": collapse, "split": dates.to_json()},
    )


#: (events, fitted tokenizer, rule) → (tokens per event row, sessions, user-days)
GroupingStage = Callable[[pl.DataFrame, Tokenizer, SessionRule], tuple[np.ndarray, Grouping, Grouping]]


def tokenize_and_group(events: pl.DataFrame, tok: Tokenizer,
                       rule: SessionRule) -> tuple[np.ndarray, Grouping, Grouping]:
    """Tokens, sessions and user-days of `events`: each depends only on one user's events."""
    return tok.transform(events), sessions(events, rule), user_days(events)


def build_sequences(
    work: WorkDir | str,
    collapse: bool = True,
    val_start: str | None = None,
    test_start: str | None = None,
    tokenizer: Tokenizer | str | None = None,
    session_rule: SessionRule | None = None,
    stage: GroupingStage | None = None,
) -> dict[str, Any]:
    """Build, save and describe the session and user-day sequence sets of a WORK folder.
    `session_rule` defaults to the paper's rule for CERT data, the action + idle rule otherwise.
    `stage` replaces `tokenize_and_group` (the Ray engine runs it per chunk of users)."""
    work = _work(work).require()
    summary = work.read_summary()
    release = summary.get("release")
    with progress() as p:
        task = p.add_task("sequences: read events", total=5)
        events = read_sequence_inputs(work)
        if events.height == 0:
            raise ValueError(f"{work.events} holds no events; nothing to build sequences from")
        p.update(task, advance=1, description="sequences: tokenize")
        span_start, span_end = events["time"].min(), events["time"].max()
        dates = split_dates(release, span_start, span_end, val_start=val_start, test_start=test_start)  # type: ignore[arg-type]
        tok = _resolve_tokenizer(tokenizer, summary, events, dates)
        times = events["time"].cast(pl.Int64).to_numpy()
        counts: dict[str, Any] = {}
        rule = session_rule or default_rule(is_cert(summary))
        tokens, session_groups, day_groups = (stage or tokenize_and_group)(events, tok, rule)
        for kind in KINDS:
            p.update(task, advance=1, description=f"sequences: {kind}s")
            grouping = session_groups if kind == "session" else day_groups
            seqs = to_sequence_set(events, grouping, tokens, times, kind, dates, collapse, tok.vocab_size, rule)
            seqs.save(work.sequence_set(kind))
            counts[kind] = _counts(seqs)
        p.update(task, advance=1, description="sequences: config")
        config = {
            "tokenizer": tok.to_json(),
            "vocab_size": tok.vocab_size,
            "collapse": collapse,
            "session_rule": rule.to_json(),
            "session_lengths": length_distribution(session_groups, times),
            "release": release,
            "split": dates.to_json(),
            "span": {"start": _iso(span_start), "end": _iso(span_end)},
            "events": events.height,
            "counts": counts,
        }
        write_json(work.sequences / "config.json", config)
        p.update(task, advance=1, description="sequences: done")
    return config


def _iso(d: datetime) -> str:
    return d.isoformat()


def _counts(seqs: SequenceSet) -> dict[str, Any]:
    split = seqs.meta["split"]
    out: dict[str, Any] = {"sequences": len(seqs), "activities": seqs.n_activities,
                           "raw_activities": int(seqs.meta["raw_length"].sum() or 0)}
    lengths = seqs.lengths
    for name in ("train", "validation", "test"):
        m = (split == name).to_numpy()
        out[name] = {"sequences": int(m.sum()), "activities": int(lengths[m].sum())}
    return out


def load_config(work: WorkDir | str) -> dict[str, Any]:
    path = _work(work).sequences / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"no sequences in {_work(work).root}; run `neighborwatch prepare` first")
    return json.loads(path.read_text())


def load_sequences(work: WorkDir | str, kind: str = "session") -> SequenceSet:
    """The saved session ('session') or user-day ('day') SequenceSet of a WORK folder."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    path = _work(work).sequence_set(kind)
    if not (path / "arrays.npz").exists():
        raise FileNotFoundError(f"no {kind} sequences at {path}; run `neighborwatch prepare` first")
    return SequenceSet.load(path)


def load_tokenizer(work: WorkDir | str) -> Tokenizer:
    """The tokenizer the sequences of a WORK folder were built with (for live events)."""
    return tokenizer_from_json(load_config(work)["tokenizer"])


def load_split_dates(work: WorkDir | str) -> SplitDates:
    return SplitDates.from_json(load_config(work)["split"])
