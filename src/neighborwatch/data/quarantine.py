"""Where malformed input rows go instead of crashing the run or vanishing.

Every reader hands a bad row here with its file name and physical line number; the rows are
streamed to `WORK/quarantine.csv` as they come (bounded memory however many there are) and
counted per file and per reason for the summary. On close the file is put in (file, line) order,
files in the order they were first quarantined: the order rows arrive in depends on how far the
CSV reader read ahead, and on which piece of a file a parallel reader finished first.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path
from typing import IO

import polars as pl

QUARANTINE_COLUMNS = ("file", "line", "reason", "raw")
MAX_RAW_CHARS = 2000  # a runaway line must not blow up the quarantine file


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def escape_raw(raw: bytes | str, limit: int = MAX_RAW_CHARS) -> str:
    """A bad line as printable text: at most `limit` characters, undecodable bytes as `\\xNN`,
    control characters (NUL, CR, ESC, ...) as `\\xNN`, so the quarantine file stays a clean CSV."""
    if isinstance(raw, bytes):
        raw = raw[: 4 * limit].decode("utf-8", errors="backslashreplace")
    raw = raw[: 4 * limit]
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", raw)[:limit]


class Quarantine:
    """Append-only sink for bad rows; use as a context manager."""

    def __init__(self, path: Path | None) -> None:
        """`path=None`: count only (for a probing pass whose rows are read again later)."""
        self.path = Path(path) if path is not None else None
        self._fh: IO[str] | None = None
        self._closed = False
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("w", newline="", encoding="utf-8")
            self._writer = csv.writer(self._fh)
            self._writer.writerow(QUARANTINE_COLUMNS)
        self.per_file: Counter[str] = Counter()
        self.per_reason: Counter[str] = Counter()

    def add(self, file: str, line: int, reason: str, raw: str) -> None:
        if self._closed:
            raise RuntimeError("quarantine already closed")
        if self._fh is not None:
            self._writer.writerow((file, int(line), reason, escape_raw(raw)))
        self.per_file[file] += 1
        # group reasons by their kind, not their offending value ("bad date '13/45/2010'" → "bad date")
        self.per_reason[reason.split(" '")[0].split(" (")[0]] += 1

    def add_many(self, file: str, lines: list[int], reasons: list[str], raws: list[str]) -> None:
        for line, reason, raw in zip(lines, reasons, raws):
            self.add(file, line, reason, raw)

    @property
    def total(self) -> int:
        return sum(self.per_file.values())

    def close(self) -> None:
        self._closed = True
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            if self.total and self.path is not None:
                _sort_by_file_and_line(self.path, list(self.per_file))

    def __enter__(self) -> Quarantine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def summary(self) -> dict:
        return {
            "rows": self.total,
            "per_file": dict(sorted(self.per_file.items())),
            "per_reason": dict(sorted(self.per_reason.items())),
        }


class CollectedQuarantine(Quarantine):
    """Counts and keeps its rows (file, line, reason, raw) in memory: the quarantine of one piece
    of a file read by another process, whose rows the driver then adds to the real one."""

    def __init__(self) -> None:
        super().__init__(None)
        self.rows: list[tuple[str, int, str, str]] = []

    def add(self, file: str, line: int, reason: str, raw: str) -> None:
        super().add(file, line, reason, raw)
        self.rows.append((file, int(line), reason, raw))


def _sort_by_file_and_line(path: Path, files: list[str]) -> None:
    """Rewrite the quarantine CSV in (file, line) order, files in the order given; stable, so
    rows of one line (line 0: whole-file problems) keep their order."""
    rank = {f: i for i, f in enumerate(files)}
    tmp = path.with_name(path.name + ".tmp")
    (
        pl.scan_csv(path, infer_schema=False)
        .with_row_index("_seq")
        .sort(
            pl.col("file").replace_strict(rank, return_dtype=pl.Int64),
            pl.col("line").cast(pl.Int64),
            pl.col("_seq"),
        )
        .drop("_seq")
        .sink_csv(tmp)
    )
    tmp.replace(path)


def split_checked(staged: pl.DataFrame, columns: dict[str, pl.Expr], raw: pl.Expr) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows whose `_reason` is null become canonical events (`columns`, plus `content` when
    asked for); the others become quarantine rows (line, reason, raw text)."""
    from neighborwatch.data.schema import conform_events

    bad = staged.filter(pl.col("_reason").is_not_null()).select(line=pl.col("_line"), reason=pl.col("_reason"), raw=raw)
    good = staged.filter(pl.col("_reason").is_null()).select(**columns)
    events = conform_events(good)
    if "content" in good.columns:
        events = events.with_columns(good["content"].cast(pl.Utf8))
    return events, bad
