"""Your own activity logs (CSV, JSON lines, Parquet) → the canonical events schema.

A `--map` string names which of your columns is the user, time and action (and optionally the
host, source, event id and detail columns), e.g. `user=login,time=ts,action=event,host=device`.
Everything downstream then works exactly as on CERT data. Missing pieces get deterministic
defaults: event_id = `<file>:<line>` (the same input always gives the same ids), host =
`unknown`, source = the CERT family of the action (Logon → logon, Connect → device, ...) or
`other`. Rows without a user, action or parseable time are quarantined with their line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from neighborwatch.data.cert import ACTION_SOURCE
from neighborwatch.data.csvstream import read_header, stream_csv
from neighborwatch.data.quarantine import Quarantine, split_checked
from neighborwatch.data.schema import EVENT_SCHEMA, REQUIRED_EVENT_COLUMNS

FORMATS = {"csv": (".csv",), "jsonl": (".jsonl", ".ndjson", ".json"), "parquet": (".parquet", ".pq")}
REQUIRED_KEYS = ("user", "time", "action")
MAP_KEYS = tuple(EVENT_SCHEMA) + ("content",)
DEFAULT_HOST = "unknown"
OTHER_SOURCE = "other"
JSONL_BATCH = 100_000

_TIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%Y-%m-%d",
)
_TZ_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z")


class MappingError(ValueError):
    """The --map string is malformed or names columns the input lacks."""


def parse_mapping(text: str | None) -> dict[str, str]:
    """`user=COL,time=COL,action=COL[,key=COL...]` → {canonical key: your column}."""
    if not text:
        raise MappingError("own logs need --map user=COL,time=COL,action=COL[,host=COL,...]")
    mapping: dict[str, str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise MappingError(f"--map entry '{part}' is not KEY=COLUMN")
        key, col = (s.strip() for s in part.split("=", 1))
        if key not in MAP_KEYS:
            raise MappingError(f"--map key '{key}' is unknown; keys: {', '.join(MAP_KEYS)}")
        if key in mapping:
            raise MappingError(f"--map key '{key}' given twice")
        if not col:
            raise MappingError(f"--map key '{key}' has no column name")
        mapping[key] = col
    missing = [k for k in REQUIRED_KEYS if k not in mapping]
    if missing:
        raise MappingError(f"--map lacks {', '.join(missing)} (required: {', '.join(REQUIRED_KEYS)})")
    return mapping


def list_files(src: Path, fmt: str) -> list[Path]:
    """src itself, or every file of that format under the folder src (sorted: deterministic)."""
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, not '{fmt}'")
    src = Path(src)
    if not src.exists():
        raise FileNotFoundError(f"{src} does not exist")
    if src.is_file():
        return [src]
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in FORMATS[fmt])
    if not files:
        raise FileNotFoundError(f"{src} holds no {fmt} files ({', '.join(FORMATS[fmt])})")
    return files


def _read_csv(path: Path, mapping: dict[str, str], quarantine: Quarantine, label: str):
    cols = list(dict.fromkeys(mapping.values()))
    header = read_header(path)
    missing = [c for c in cols if c not in header]
    if missing:
        raise MappingError(f"{path}: --map names column(s) {missing} that the header {header} lacks")
    for batch in stream_csv(path, cols, quarantine, label):
        yield batch.df, batch.lines


def _read_jsonl(path: Path, mapping: dict[str, str], quarantine: Quarantine, label: str):
    cols = list(dict.fromkeys(mapping.values()))
    rows: list[dict] = []
    lines: list[int] = []
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for lineno, text in enumerate(fh, start=1):
            if not text.strip():
                continue  # blank line: not a record
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                quarantine.add(label, lineno, f"bad json ({exc.msg})", text.rstrip("\n"))
                continue
            if not isinstance(obj, dict):
                quarantine.add(label, lineno, "json line is not an object", text.rstrip("\n"))
                continue
            rows.append({c: (None if obj.get(c) is None else str(obj.get(c))) for c in cols})
            lines.append(lineno)
            if len(rows) >= JSONL_BATCH:
                yield pl.DataFrame(rows, schema={c: pl.Utf8 for c in cols}), np.asarray(lines, dtype=np.int64)
                rows, lines = [], []
    if rows:
        yield pl.DataFrame(rows, schema={c: pl.Utf8 for c in cols}), np.asarray(lines, dtype=np.int64)


def _read_parquet(path: Path, mapping: dict[str, str], quarantine: Quarantine, label: str):
    cols = list(dict.fromkeys(mapping.values()))
    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    missing = [c for c in cols if c not in names]
    if missing:
        raise MappingError(f"{path}: --map names column(s) {missing} that the file lacks ({names})")
    start = 1  # "line" of a Parquet row = its 1-based row number
    for rb in pf.iter_batches(columns=cols, batch_size=JSONL_BATCH):
        df = pl.from_arrow(rb)
        assert isinstance(df, pl.DataFrame)
        yield df, np.arange(start, start + df.height, dtype=np.int64)
        start += df.height


_READERS = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}


def parse_times(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Datetime(us), naive UTC, from datetimes, epoch numbers (s or ms) or common text formats."""
    if dtype.is_temporal():
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return col.cast(pl.Datetime("us"))
    if dtype.is_numeric():
        col = col.cast(pl.Utf8)
    s = col.cast(pl.Utf8).str.strip_chars().str.replace(r"Z$", "+00:00")
    epoch = s.cast(pl.Float64, strict=False)
    candidates = [
        pl.when(s.str.contains(r"^\d{12,}(\.\d*)?$")).then((epoch * 1_000).cast(pl.Int64))  # ms
        .when(s.str.contains(r"^\d{9,11}(\.\d*)?$")).then((epoch * 1_000_000).cast(pl.Int64))  # s
        .cast(pl.Datetime("us"))
    ]
    candidates += [
        s.str.strptime(pl.Datetime("us", "UTC"), f, strict=False)
        .dt.convert_time_zone("UTC").dt.replace_time_zone(None) for f in _TZ_TIME_FORMATS
    ]
    candidates += [s.str.strptime(pl.Datetime("us"), f, strict=False) for f in _TIME_FORMATS]
    return pl.coalesce(candidates)


def _bool(col: pl.Expr) -> pl.Expr:
    v = col.cast(pl.Utf8).str.strip_chars().str.to_lowercase()
    return pl.when(v.is_in(["true", "1", "yes", "y", "t"])).then(True).when(
        v.is_in(["false", "0", "no", "n", "f"])).then(False)


def canonicalize_own(
    df: pl.DataFrame, lines: np.ndarray, mapping: dict[str, str], label: str, keep_content: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A batch of your columns → (canonical events, bad rows with line/reason/raw)."""
    def text(key: str) -> pl.Expr:
        return pl.col(mapping[key]).cast(pl.Utf8).str.strip_chars()

    line = pl.Series("_line", lines, dtype=pl.Int64)
    out: dict[str, pl.Expr] = {
        "user": text("user"),
        "time": parse_times(pl.col(mapping["time"]), df.schema[mapping["time"]]),
        "action": text("action"),
    }
    out["event_id"] = (
        pl.coalesce(pl.when(text("event_id") != "").then(text("event_id")),
                    pl.lit(f"{label}:") + pl.col("_line").cast(pl.Utf8))
        if "event_id" in mapping else pl.lit(f"{label}:") + pl.col("_line").cast(pl.Utf8)
    )
    out["host"] = (
        pl.coalesce(pl.when(text("host") != "").then(text("host")), pl.lit(DEFAULT_HOST))
        if "host" in mapping else pl.lit(DEFAULT_HOST)
    )
    derived = out["action"].replace_strict(ACTION_SOURCE, default=OTHER_SOURCE, return_dtype=pl.Utf8)
    out["source"] = (
        pl.coalesce(pl.when(text("source") != "").then(text("source").str.to_lowercase()), derived)
        if "source" in mapping else derived
    )
    reason = (
        pl.when(out["user"].is_null() | (out["user"] == "")).then(pl.lit("missing user"))
        .when(out["action"].is_null() | (out["action"] == "")).then(pl.lit("missing action"))
        .when(out["time"].is_null()).then(pl.lit("bad time '") + text("time").fill_null("") + pl.lit("'"))
    )
    for key in MAP_KEYS:
        if key in REQUIRED_EVENT_COLUMNS or key not in mapping or key == "content":
            continue
        target = EVENT_SCHEMA[key]
        raw_v = text(key)
        value = _bool(pl.col(mapping[key])) if target == pl.Boolean else raw_v.cast(target, strict=False)
        out[key] = value
        if target != pl.Utf8:
            reason = reason.when(raw_v.is_not_null() & (raw_v != "") & value.is_null()).then(
                pl.lit(f"bad {key} '") + raw_v + pl.lit("'")
            )
    if keep_content and "content" in mapping:
        out["content"] = text("content")
    raw = pl.concat_str([pl.col(c).cast(pl.Utf8).fill_null("") for c in df.columns], separator=",")
    staged = df.with_columns(line).with_columns(_reason=reason.otherwise(pl.lit(None, pl.Utf8)))
    return split_checked(staged, out, raw)


def read_own_logs(
    path: Path, fmt: str, mapping: dict[str, str], quarantine: Quarantine, label: str,
    keep_content: bool = False,
) -> Iterator[pl.DataFrame]:
    """Stream one file of your logs as canonical event batches; bad rows go to the quarantine."""
    for df, lines in _READERS[fmt](path, mapping, quarantine, label):
        events, bad = canonicalize_own(df, lines, mapping, label, keep_content)
        if bad.height:
            quarantine.add_many(label, bad["line"].to_list(), bad["reason"].to_list(), bad["raw"].to_list())
        yield events
