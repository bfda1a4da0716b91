"""`neighborwatch prepare SRC --out WORK --engine ray`: read, sort and sessionize on Ray.

Reading: every log file is cut into pieces of about `--chunk-mb` on line boundaries (Parquet: row
groups); a Ray task counts each piece's line breaks (so every piece numbers its lines as the
whole file does), then a task per piece parses and canonicalises it with the local engine's
reader (`data.pieces.read_piece`, the same LineGuard and quarantine rules) and writes its events
as week parts into WORK/_parts. The driver absorbs the pieces in file order and writes their
quarantine rows (`data.pieces.PiecewiseReader`). Sorting: consecutive weeks are grouped as the
local engine groups them and each group is sorted by a task; the driver appends the sorted
groups to events.parquet in week order, so the file equals the local engine's. The driver never
holds more than one group.

Sessions: every session (one user on one PC) and every user-day holds the events of one user only, and a
token depends on its event only, so the sequences stage splits exactly by user: the sorted
users are cut into contiguous chunks, each chunk's events (in event-row order, so ties break as
in the whole file) are tokenized and grouped by a Ray task with the same
`sequences.build.tokenize_and_group`, and the chunks' sequences are merged back with the global
event rows and renumbered by their first event (time, then row) — what the local engine's one
call gives. What runs in the driver: cutting files (a few bytes read per cut), writing the
sorted groups into the one events.parquet, the organisation and labels (small tables), the
tokenizer fit (own logs) and the gathers that write the sequence sets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from neighborwatch.data.pieces import PiecewiseReader
from neighborwatch.scale.cluster import cluster_cpus, connect
from neighborwatch.sequences.build import tokenize_and_group
from neighborwatch.sequences.sessionize import Grouping, SessionRule
from neighborwatch.sequences.tokenize import Tokenizer

CHUNKS_PER_CPU = 2
CHUNK_MB = 64.0  # per reading task: ~1 s of parsing, a few hundred MB of task memory at most


Stage = tuple[np.ndarray, Grouping, Grouping]


def _chunk_task(events: pl.DataFrame, tok: Tokenizer, rule: SessionRule) -> Stage:
    cat = [pl.col(c).cast(pl.Categorical) for c in ("user", "host", "source", "action")]
    return tokenize_and_group(events.with_columns(cat), tok, rule)


def merge_groupings(parts: list[tuple[np.ndarray, Grouping]], time_us: np.ndarray) -> Grouping:
    """Sequences of disjoint row sets (rows given as global rows) as one Grouping, numbered by
    (time, row) of their first event like `sessionize._group`."""
    firsts, lengths, rows = [], [], []
    for global_rows, g in parts:
        firsts.append(global_rows[g.first_rows])
        lengths.append(g.lengths)
        rows.append(global_rows[g.rows])
    if not parts:
        return Grouping(rows=np.zeros(0, np.int64), offsets=np.zeros(1, np.int64))
    first, length, flat = np.concatenate(firsts), np.concatenate(lengths), np.concatenate(rows)
    starts = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    rank = np.lexsort((first, time_us[first]))
    new_lengths = length[rank]
    offsets = np.concatenate([[0], np.cumsum(new_lengths)]).astype(np.int64)
    idx = np.repeat(starts[rank] - offsets[:-1], new_lengths) + np.arange(len(flat), dtype=np.int64)
    return Grouping(rows=flat[idx].astype(np.int64), offsets=offsets)


def ray_stage(address: str | None = None, chunks: int = 0):
    """A `GroupingStage` that runs `tokenize_and_group` per chunk of users as Ray tasks
    (`chunks`: how many; 0 = two per CPU of the cluster)."""

    def stage(events: pl.DataFrame, tok: Tokenizer, rule: SessionRule) -> Stage:
        if events["user"].null_count():  # no chunk would hold them: fail as the local engine does
            return tokenize_and_group(events, tok, rule)
        with connect(address) as ray:
            n = chunks or CHUNKS_PER_CPU * cluster_cpus(ray)
            strings = [pl.col(c).cast(pl.Utf8) for c in ("user", "host", "source", "action")]
            frame = events.with_columns(strings).with_row_index("_row")
            users = np.asarray(sorted(frame["user"].unique().to_list()), dtype=object)
            task = ray.remote(_chunk_task)
            tok_ref, rule_ref = ray.put(tok), ray.put(rule)
            refs, rows = [], []
            for part in (p for p in np.array_split(users, max(1, min(n, len(users)))) if len(p)):
                sub = frame.filter(pl.col("user").is_in(part.tolist()))
                rows.append(sub["_row"].to_numpy().astype(np.int64))
                refs.append(task.remote(sub.drop("_row"), tok_ref, rule_ref))
            results = ray.get(refs)
        time_us = events["time"].cast(pl.Int64).to_numpy()
        tokens = np.zeros(events.height, dtype=np.int32)
        for r, (t, _, _) in zip(rows, results):
            tokens[r] = t
        session = merge_groupings([(r, s) for r, (_, s, _) in zip(rows, results)], time_us)
        days = merge_groupings([(r, d) for r, (_, _, d) in zip(rows, results)], time_us)
        return tokens, session, days

    return stage


def ray_tasks(ray: Any) -> Callable[[Callable[..., Any], list[tuple]], Iterator[Any]]:
    """`data.pieces.RunMany` as Ray tasks: all submitted at the first result asked for, results
    fetched in the order given."""

    def run(fn: Callable[..., Any], calls: list[tuple]) -> Iterator[Any]:
        task = ray.remote(fn)
        refs = [task.remote(*args) for args in calls]
        for i, ref in enumerate(refs):
            yield ray.get(ref)
            refs[i] = None  # let Ray free the result

    return run


def ray_reader(ray: Any, chunk_mb: float = CHUNK_MB) -> PiecewiseReader:
    """The `data.prepare.Reader` of the Ray engine: pieces of `chunk_mb` MiB."""
    return PiecewiseReader(ray_tasks(ray), int(chunk_mb * (1 << 20)))


def prepare_on_ray(
    src: Path, out: Path, address: str | None = None, chunk_mb: float = CHUNK_MB, **options: Any
) -> dict[str, Any]:
    """`pipeline.prepare_work` with reading, sorting and the sequences stage on Ray (one Ray
    connection for all three)."""
    from neighborwatch.pipeline import prepare_work

    if not chunk_mb > 0:
        raise ValueError(f"--chunk-mb must be above 0, got {chunk_mb}")
    with connect(address) as ray:
        return prepare_work(src, out, stage=ray_stage(), reader=ray_reader(ray, chunk_mb), **options)
