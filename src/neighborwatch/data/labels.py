"""The separate labels table: joined back to event rows (evaluation and training loss only),
and built from a team's own known incidents (`prepare --labels`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from neighborwatch.data.schema import LABEL_SCHEMA
from neighborwatch.workdir import WorkDir


def row_labels(work: WorkDir | str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Per row of events.parquet: (malicious bool array, scenario int8 array, 0 = none)."""
    work = WorkDir(work) if not isinstance(work, WorkDir) else work
    ids = pl.read_parquet(work.events, columns=["event_id"]).with_row_index("row")
    n = ids.height
    malicious = np.zeros(n, dtype=bool)
    scenario = np.zeros(n, dtype=np.int8)
    if not work.labels.exists():
        return malicious, scenario
    labels = pl.read_parquet(work.labels).filter(pl.col("malicious"))
    joined = ids.join(labels.select("event_id", "scenario"), on="event_id", how="inner")
    rows = joined["row"].to_numpy()
    malicious[rows] = True
    scenario[rows] = joined["scenario"].fill_null(0).cast(pl.Int8).to_numpy()
    return malicious, scenario


# --- known incidents of your own logs (`prepare --labels incidents.csv`) -------------------

WINDOW_COLUMNS = ("user", "start", "end")
LISTED = 20  # ids / windows listed by name in the summary


class LabelsError(ValueError):
    """The incidents file cannot be read as event ids or as user time windows."""


def _scenarios(values: pl.Series) -> tuple[pl.Series, dict[str, str]]:
    """Scenario per row as Int8: integers as given, words numbered 1.. in sorted order."""
    v = values.cast(pl.Utf8).str.strip_chars()
    v = pl.Series(v.name, [None if x in (None, "") else x for x in v.to_list()], dtype=pl.Utf8)
    as_int = v.cast(pl.Int64, strict=False)
    if v.drop_nulls().len() == as_int.drop_nulls().len():
        if as_int.drop_nulls().len() and not as_int.drop_nulls().is_between(1, 127).all():
            raise LabelsError("scenario numbers must be 1..127 (0 means none)")
        return as_int.cast(pl.Int8), {}
    names = sorted(set(v.drop_nulls().to_list()))
    codes = {n: i + 1 for i, n in enumerate(names)}
    if len(codes) > 127:
        raise LabelsError(f"{len(codes)} scenario names; at most 127")
    return v.replace_strict(codes, default=None, return_dtype=pl.Int8), {str(c): n for n, c in codes.items()}


def incident_labels(path: Path | str, events: Path | str) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Known incidents → (labels table rows, report for summary.json).

    The CSV holds either an `event_id` column (those events are malicious) or `user,start,end`
    columns (every event of that user with start ≤ time ≤ end is malicious; times like the logs'
    own, naive or with an offset → UTC); an optional `scenario` column (number or name) and, for
    ids, an optional `insider` column (default: the event's user). Ids absent from the logs and
    windows that match no event are reported, not silently dropped.
    """
    from neighborwatch.data.ownlogs import (
        parse_times,  # same layer; the logs' own time parser
    )

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"--labels {path} does not exist")
    try:
        raw = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise LabelsError(f"--labels {path}: not a readable CSV ({exc})") from None
    raw = raw.rename({c: c.strip().lower() for c in raw.columns})
    raw = raw.with_row_index("line", offset=2)  # line 1 is the header
    scen, names = (
        _scenarios(raw["scenario"])
        if "scenario" in raw.columns
        else (pl.Series("scenario", [None] * raw.height, dtype=pl.Int8), {})
    )
    raw = raw.with_columns(scen.alias("scenario"))
    ev = pl.scan_parquet(events).select("event_id", "user", "time")
    report: dict[str, Any] = {"file": str(path), "scenario_names": names}
    if "event_id" in raw.columns:
        ids = raw.with_columns(pl.col("event_id").str.strip_chars()).filter(
            pl.col("event_id").is_not_null() & (pl.col("event_id") != "")
        )
        ids = ids.unique("event_id", keep="first", maintain_order=True)
        found = ev.join(ids.lazy(), on="event_id", how="inner").collect(engine="streaming")
        insider = pl.coalesce(pl.col("insider"), pl.col("user")) if "insider" in found.columns else pl.col("user")
        labels = found.select("event_id", pl.lit(True).alias("malicious"), "scenario", insider.alias("insider"))
        missing = ids.join(found.select("event_id"), on="event_id", how="anti")["event_id"].to_list()
        report.update(
            kind="event_ids",
            rows=raw.height,
            ids=ids.height,
            not_in_logs=len(missing),
            not_in_logs_first=missing[:LISTED],
        )
    elif set(WINDOW_COLUMNS) <= set(raw.columns):
        win = raw.with_columns(
            pl.col("user").str.strip_chars(),
            parse_times(pl.col("start"), pl.Utf8).alias("t0"),
            parse_times(pl.col("end"), pl.Utf8).alias("t1"),
        )
        bad = win.filter(
            pl.col("user").is_null()
            | (pl.col("user") == "")
            | pl.col("t0").is_null()
            | pl.col("t1").is_null()
            | (pl.col("t1") < pl.col("t0"))
        )
        if bad.height:
            r = bad.row(0, named=True)
            raise LabelsError(
                f"--labels {path} line {r['line']}: need user, start <= end as times; got "
                f"user={r['user']!r} start={r['start']!r} end={r['end']!r}"
            )
        hits = (
            ev.join(win.lazy().select("line", "user", "t0", "t1", "scenario"), on="user", how="inner")
            .filter(pl.col("time").is_between(pl.col("t0"), pl.col("t1")))
            .collect(engine="streaming")
        )
        per_window = hits.group_by("line").len()
        counts = dict(zip(per_window["line"].to_list(), per_window["len"].to_list()))
        empty = [
            {"line": r["line"], "user": r["user"], "start": r["start"], "end": r["end"]}
            for r in win.iter_rows(named=True)
            if counts.get(r["line"], 0) == 0
        ]
        hits = hits.sort("line").unique("event_id", keep="first", maintain_order=True)
        labels = hits.select("event_id", pl.lit(True).alias("malicious"), "scenario", pl.col("user").alias("insider"))
        report.update(
            kind="windows",
            rows=raw.height,
            windows=win.height,
            events_per_window={str(k): int(v) for k, v in sorted(counts.items())},
            windows_without_events=len(empty),
            windows_without_events_first=empty[:LISTED],
        )
    else:
        raise LabelsError(
            f"--labels {path}: columns {raw.columns[1:]} are neither event_id[,scenario] nor user,start,end[,scenario]"
        )
    labels = labels.select([pl.col(c).cast(t) for c, t in LABEL_SCHEMA.items()]).sort("event_id")
    report["malicious_events"] = labels.height
    report["malicious_per_scenario"] = {
        str(k): int(n) for k, n in labels.group_by("scenario").len().sort("scenario").iter_rows()
    }
    return labels, report
