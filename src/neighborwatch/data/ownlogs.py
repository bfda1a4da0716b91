"""Your own activity logs (CSV, JSON lines, Parquet) → the canonical events schema.

A `--map` string names which of your fields is the user, time and action (and optionally the
host, source, event id and detail columns), e.g. `user=login,time=ts,action=event,host=device`,
or starts from a field preset (`ecs`, `ocsf`, `winsec`: `data.presets`) that an explicit
`key=field` then overrides, e.g. `ecs,user=account`. Fields may be dotted paths into nested
JSON (`user.name`). Everything downstream then works exactly as on CERT data. Missing pieces get
deterministic defaults: event_id = `<file>:<line>` (the same input always gives the same ids),
host = `unknown`, source = the CERT family of the action (Logon → logon, Connect → device, ...)
or `other`; a mapped source is read as a category word (auth → logon, web → http, ...; anything
unrecognised → other), so that every source is one the live service accepts. Extra mapped
fields (url, domain, filename, src_ip, dst_ip, process, outcome, size, ...) are kept as detail
columns. Rows without a user, action or parseable time are quarantined with their line.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from neighborwatch.data.cert import ACTION_SOURCE
from neighborwatch.data.chunks import Chunk, open_chunk
from neighborwatch.data.csvstream import read_header, stream_csv
from neighborwatch.data.presets import (
    CATEGORY_SOURCE,
    EMPTY_VALUES,
    PRESETS,
    FieldSpec,
    column,
)
from neighborwatch.data.quarantine import Quarantine, split_checked
from neighborwatch.data.schema import (
    EVENT_SCHEMA,
    EVENT_SOURCES,
    REQUIRED_EVENT_COLUMNS,
    DType,
)

FORMATS = {"csv": (".csv",), "jsonl": (".jsonl", ".ndjson", ".json"), "parquet": (".parquet", ".pq")}
REQUIRED_KEYS = ("user", "time", "action")
MAP_KEYS = tuple(EVENT_SCHEMA) + ("content",)
DEFAULT_HOST = "unknown"
OTHER_SOURCE = "other"
JSONL_BATCH = 100_000
SOURCE_WORDS = {**CATEGORY_SOURCE, **{s: s for s in EVENT_SOURCES}}

Mapping = dict[str, FieldSpec]

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


def parse_mapping(text: str | None) -> Mapping:
    """`[PRESET,]key=FIELD,...` → {canonical key: FieldSpec}; explicit keys override the preset."""
    if not text:
        raise MappingError(
            "own logs need --map: a preset (" + " | ".join(PRESETS) + ") and/or user=COL,time=COL,action=COL"
        )
    mapping: Mapping = {}
    explicit: set[str] = set()
    for i, part in enumerate(p.strip() for p in text.split(",")):
        if not part:
            continue
        if "=" not in part:
            if part.lower() in PRESETS and i == 0:
                mapping.update(PRESETS[part.lower()])
                continue
            hint = f"; presets: {', '.join(PRESETS)} (first in the list)" if i == 0 else ""
            raise MappingError(f"--map entry '{part}' is not KEY=COLUMN{hint}")
        key, col = (s.strip() for s in part.split("=", 1))
        if key not in MAP_KEYS:
            raise MappingError(f"--map key '{key}' is unknown; keys: {', '.join(MAP_KEYS)}")
        if key in explicit:
            raise MappingError(f"--map key '{key}' given twice")
        if not col:
            raise MappingError(f"--map key '{key}' has no column name")
        mapping[key] = column(col)
        explicit.add(key)
    missing = [k for k in REQUIRED_KEYS if k not in mapping]
    if missing:
        raise MappingError(f"--map lacks {', '.join(missing)} (required: {', '.join(REQUIRED_KEYS)})")
    return mapping


def mapping_json(mapping: Mapping) -> dict[str, list[str]]:
    """{key: candidate fields} for summary.json."""
    return {k: list(v.paths) for k, v in mapping.items()}


def _paths(mapping: Mapping) -> list[str]:
    return list(dict.fromkeys(p for spec in mapping.values() for p in spec.paths))


def _require_present(path: Path, mapping: Mapping, names: list[str]) -> list[str]:
    """The mapped fields a file with fields `names` has; MappingError when an explicit column,
    or every candidate of a required key, is missing."""
    present = set(names)
    missing = [s.paths[0] for s in mapping.values() if s.explicit and s.paths[0] not in present]
    if missing:
        raise MappingError(f"{path}: --map names column(s) {missing} that the file lacks ({names})")
    for key in REQUIRED_KEYS:
        if not present & set(mapping[key].paths):
            raise MappingError(
                f"{path}: no field for {key} (tried {list(mapping[key].paths)}); "
                f"the file has {names}; add --map {key}=FIELD"
            )
    return [p for p in _paths(mapping) if p in present]


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


def _read_csv(path: Path, mapping: Mapping, quarantine: Quarantine, label: str, chunk: Chunk | None = None):
    cols = _require_present(path, mapping, read_header(path))
    for batch in stream_csv(path, cols, quarantine, label, chunk=chunk):
        yield batch.df, batch.lines


_MISSING = object()


def lookup(obj: Any, path: str) -> Any:
    """The value at a dotted path in nested JSON; a flat key "a.b" matches too (longest first)."""
    parts = path.split(".")

    def walk(o: Any, i: int) -> Any:
        if not isinstance(o, dict):
            return _MISSING
        for j in range(len(parts), i, -1):
            key = ".".join(parts[i:j])
            if key in o:
                v = o[key]
                if j == len(parts):
                    return v
                found = walk(v, j)
                if found is not _MISSING:
                    return found
        return _MISSING

    return walk(obj, 0)


def _text(v: Any) -> str | None:
    """A JSON value as the text a column holds: lists give their first element (ECS
    event.category is a list), objects their JSON."""
    if isinstance(v, list):
        v = next((x for x in v if x is not None), None)
    if v is None or v is _MISSING:
        return None
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _read_jsonl(path: Path, mapping: Mapping, quarantine: Quarantine, label: str, chunk: Chunk | None = None):
    cols = _paths(mapping)
    schema = {c: pl.Utf8 for c in cols}
    rows: list[dict] = []
    lines: list[int] = []
    # text mode (universal newlines) for a piece too: `chunks.count_breaks(universal=True)` numbers alike
    fh = (
        path.open("r", encoding="utf-8", errors="replace")
        if chunk is None
        else io.TextIOWrapper(io.BufferedReader(open_chunk(path, chunk, with_header=False)), "utf-8", "replace")
    )
    with fh:
        for lineno, text in enumerate(fh, start=1 if chunk is None else chunk.first_line):
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
            rows.append({c: _text(lookup(obj, c)) for c in cols})
            lines.append(lineno)
            if len(rows) >= JSONL_BATCH:
                yield pl.DataFrame(rows, schema=schema), np.asarray(lines, dtype=np.int64)
                rows, lines = [], []
    if rows:
        yield pl.DataFrame(rows, schema=schema), np.asarray(lines, dtype=np.int64)


def _struct_path(schema: dict[str, Any], path: str) -> pl.Expr | None:
    """An expression for a dotted path through Parquet struct columns (flat names first)."""
    parts = path.split(".")
    for j in range(len(parts), 0, -1):
        key = ".".join(parts[:j])
        if key not in schema:
            continue
        expr, dtype = pl.col(key), schema[key]
        for name in parts[j:]:
            fields = {f.name: f.dtype for f in dtype.fields} if isinstance(dtype, pl.Struct) else {}
            if name not in fields:
                break
            expr, dtype = expr.struct.field(name), fields[name]
        else:
            return expr.alias(path)
    return None


def _read_parquet(path: Path, mapping: Mapping, quarantine: Quarantine, label: str, chunk: Chunk | None = None):
    pf = pq.ParquetFile(path)
    empty = pl.from_arrow(pf.schema_arrow.empty_table())
    assert isinstance(empty, pl.DataFrame)  # an arrow Table always converts to a DataFrame
    schema = dict(empty.schema)
    exprs = {p: e for p in _paths(mapping) if (e := _struct_path(schema, p)) is not None}
    _require_present(path, mapping, list(exprs))
    top = sorted({c for c in schema if any(c == p or p.startswith(c + ".") for p in exprs)})
    start = 1 if chunk is None else chunk.first_line  # "line" of a Parquet row = its 1-based row number
    groups = None if chunk is None or chunk.row_groups is None else list(chunk.row_groups)
    for rb in pf.iter_batches(columns=top, batch_size=JSONL_BATCH, row_groups=groups):
        df = pl.from_arrow(rb)
        assert isinstance(df, pl.DataFrame)
        df = df.select(list(exprs.values()))
        yield df, np.arange(start, start + df.height, dtype=np.int64)
        start += df.height


_READERS = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}


def parse_times(col: pl.Expr, dtype: DType) -> pl.Expr:
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
        pl.when(s.str.contains(r"^\d{12,}(\.\d*)?$"))
        .then((epoch * 1_000).cast(pl.Int64))  # ms
        .when(s.str.contains(r"^\d{9,11}(\.\d*)?$"))
        .then((epoch * 1_000_000).cast(pl.Int64))  # s
        .cast(pl.Datetime("us"))
    ]
    candidates += [
        s.str.strptime(pl.Datetime("us", "UTC"), f, strict=False).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        for f in _TZ_TIME_FORMATS
    ]
    candidates += [s.str.strptime(pl.Datetime("us"), f, strict=False) for f in _TIME_FORMATS]
    return pl.coalesce(candidates)


def _bool(col: pl.Expr) -> pl.Expr:
    v = col.cast(pl.Utf8).str.strip_chars().str.to_lowercase()
    return (
        pl.when(v.is_in(["true", "1", "yes", "y", "t"]))
        .then(True)
        .when(v.is_in(["false", "0", "no", "n", "f"]))
        .then(False)
    )


def _field(df: pl.DataFrame, spec: FieldSpec) -> pl.Expr:
    """One canonical text column: the first non-empty candidate, translated by the spec's table."""
    cands = [
        pl.when(~c.is_in(list(EMPTY_VALUES))).then(c)
        for c in (pl.col(p).cast(pl.Utf8).str.strip_chars() for p in spec.paths if p in df.columns)
    ]
    value = pl.coalesce(cands) if cands else pl.lit(None, pl.Utf8)
    if spec.values:
        default = pl.lit(spec.other) if spec.other is not None else value
        value = value.str.to_lowercase().replace_strict(spec.values, default=default, return_dtype=pl.Utf8)
    return value


def _time(df: pl.DataFrame, spec: FieldSpec) -> pl.Expr:
    cands = [parse_times(pl.col(p), df.schema[p]) for p in spec.paths if p in df.columns]
    return pl.coalesce(cands) if cands else pl.lit(None, pl.Datetime("us"))


def canonicalize_own(
    df: pl.DataFrame, lines: np.ndarray, mapping: Mapping, label: str, keep_content: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A batch of your fields → (canonical events, bad rows with line/reason/raw)."""

    def text(key: str) -> pl.Expr:
        return _field(df, mapping[key])

    line = pl.Series("_line", lines, dtype=pl.Int64)
    file_line = pl.lit(f"{label}:") + pl.col("_line").cast(pl.Utf8)
    out: dict[str, pl.Expr] = {"user": text("user"), "time": _time(df, mapping["time"]), "action": text("action")}
    out["event_id"] = pl.coalesce(text("event_id"), file_line) if "event_id" in mapping else file_line
    out["host"] = pl.coalesce(text("host"), pl.lit(DEFAULT_HOST)) if "host" in mapping else pl.lit(DEFAULT_HOST)
    derived = out["action"].replace_strict(ACTION_SOURCE, default=OTHER_SOURCE, return_dtype=pl.Utf8)
    if "source" in mapping:  # a category word, or the action's family when the field is empty
        word = text("source").str.to_lowercase()
        out["source"] = (
            pl.when(word.is_null())
            .then(derived)
            .otherwise(word.replace_strict(SOURCE_WORDS, default=OTHER_SOURCE, return_dtype=pl.Utf8))
        )
    else:
        out["source"] = derived
    time_text = pl.concat_str(
        [pl.col(p).cast(pl.Utf8) for p in mapping["time"].paths if p in df.columns] or [pl.lit("")],
        separator="|",
        ignore_nulls=True,
    )
    reason = (
        pl.when(out["user"].is_null())
        .then(pl.lit("missing user"))
        .when(out["action"].is_null())
        .then(pl.lit("missing action"))
        .when(out["time"].is_null())
        .then(pl.lit("bad time '") + time_text.fill_null("") + pl.lit("'"))
    )
    for key in MAP_KEYS:
        if key in REQUIRED_EVENT_COLUMNS or key not in mapping or key == "content":
            continue
        target = EVENT_SCHEMA[key]
        raw_v = text(key)
        if target == pl.Boolean:
            value = _bool(raw_v)
        elif target.is_integer():  # JSON numbers may come as "2048.0"
            value = pl.coalesce(
                raw_v.cast(target, strict=False),
                raw_v.cast(pl.Float64, strict=False).round().cast(target, strict=False),
            )
        else:
            value = raw_v.cast(target, strict=False)
        out[key] = value
        if target != pl.Utf8:
            reason = reason.when(raw_v.is_not_null() & value.is_null()).then(
                pl.lit(f"bad {key} '") + raw_v + pl.lit("'")
            )
    if keep_content and "content" in mapping:
        out["content"] = text("content")
    raw = pl.concat_str([pl.col(c).cast(pl.Utf8).fill_null("") for c in df.columns], separator=",")
    staged = df.with_columns(line).with_columns(_reason=reason.otherwise(pl.lit(None, pl.Utf8)))
    return split_checked(staged, out, raw)


def read_own_logs(
    path: Path,
    fmt: str,
    mapping: Mapping,
    quarantine: Quarantine,
    label: str,
    keep_content: bool = False,
    chunk: Chunk | None = None,
) -> Iterator[pl.DataFrame]:
    """Stream one file of your logs (or one `chunk` of it) as canonical event batches; bad rows go
    to the quarantine."""
    for df, lines in _READERS[fmt](path, mapping, quarantine, label, chunk):
        events, bad = canonicalize_own(df, lines, mapping, label, keep_content)
        if bad.height:
            quarantine.add_many(label, bad["line"].to_list(), bad["reason"].to_list(), bad["raw"].to_list())
        yield events


def canonical_events(
    records: list[dict[str, Any]], mapping: Mapping | str, label: str = "live"
) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """Live records (e.g. ECS documents from a shipper) → canonical event dicts for `POST /events`,
    mapped exactly as `prepare` mapped the history; (index, reason) for records it refuses.
    Events without a mapped id get `<label>:<index>`: give live records an event id."""
    mapping = parse_mapping(mapping) if isinstance(mapping, str) else mapping
    cols = _paths(mapping)
    df = pl.DataFrame(
        [{c: _text(lookup(r, c)) if isinstance(r, dict) else None for c in cols} for r in records],
        schema={c: pl.Utf8 for c in cols},
    )
    events, bad = canonicalize_own(df, np.arange(len(records), dtype=np.int64), mapping, label)
    out = [
        {k: (v.isoformat() if k == "time" else v) for k, v in row.items() if v is not None}
        for row in events.iter_rows(named=True)
    ]
    return out, list(zip(bad["line"].to_list(), bad["reason"].to_list()))
