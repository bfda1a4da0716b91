"""Streaming CSV reading that knows the physical line of every row (for the quarantine).

pyarrow's streaming reader parses a file block by block (bounded memory however big the file),
hands rows with the wrong number of fields to a handler instead of failing, and, when run
single-threaded, tells that handler the physical line number. Valid rows get their line numbers
back from the list of invalid ones (the k-th valid row is the k-th line that was not invalid), so
a bad date found later in a valid row can still be quarantined with its exact line.
Values containing newlines are not supported (CERT files have none): such a row is split and
both halves are quarantined, never silently merged.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from neighborwatch.data.quarantine import Quarantine

BLOCK_SIZE = 4 << 20  # bytes per parsed block; pyarrow reads ahead many blocks, so peak RSS ~ 60x this


class EmptyFileError(ValueError):
    """A log file with no header at all (zero bytes or only blank space)."""


@dataclass
class CsvBatch:
    df: pl.DataFrame  # all columns as strings
    lines: np.ndarray  # int64 physical line number (1 = header) of each row
    nbytes_read: int  # file position after this batch, for progress bars
    rescued: int = 0  # rows with too many fields that the rescue callback kept


def read_header(path: Path) -> list[str]:
    """Column names of a CSV file; EmptyFileError when it has none."""
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as fh:  # -sig: skip a BOM
        for row in csv.reader(fh):
            if any(cell.strip() for cell in row):
                return [c.strip() for c in row]
            break
    raise EmptyFileError(f"{path} is empty (no header line)")


# A rescue callback turns a row with too many fields into a dict of column → value, or None
# to quarantine it after all.
Rescue = Callable[[list[str]], dict[str, str] | None]


def stream_csv(
    path: Path,
    columns: list[str],
    quarantine: Quarantine,
    label: str,
    rescue: Rescue | None = None,
    block_size: int = BLOCK_SIZE,
) -> Iterator[CsvBatch]:
    """Yield batches of `columns` (strings) with line numbers; bad rows go to `quarantine`.

    `label` is the file name written into the quarantine. Rows with too many fields are offered
    to `rescue` (they come back appended to the batch); all other invalid rows are quarantined.
    """
    header = read_header(path)
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"{path}: header {header} lacks column(s) {missing}")
    invalid: list[tuple[int, str, int, int]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append((int(row.number or -1), row.text, row.expected_columns, row.actual_columns))
        return "skip"

    # g[j] = number of valid rows before the j-th invalid line (non-decreasing)
    invalid_lines: list[int] = []
    valid_before: list[int] = []
    n_valid = 0
    fh = path.open("rb")
    try:
        reader = pacsv.open_csv(
            fh,
            read_options=pacsv.ReadOptions(block_size=block_size, use_threads=False),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in header},
                include_columns=columns,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        for record_batch in reader:
            df = pl.from_arrow(pa.Table.from_batches([record_batch]))
            assert isinstance(df, pl.DataFrame)
            k = np.arange(n_valid, n_valid + df.height, dtype=np.int64)
            n_valid += df.height
            rescued_rows: list[dict[str, str]] = []
            rescued_lines: list[int] = []
            for number, text, expected, actual in invalid:
                j = len(invalid_lines)
                invalid_lines.append(number)
                valid_before.append(number - j - 2)
                fixed = None
                if rescue is not None and actual > expected:
                    fields = next(csv.reader([text]), [])
                    fixed = rescue(fields) if len(fields) > expected else None
                if fixed is not None:
                    rescued_rows.append({c: fixed.get(c, "") for c in columns})
                    rescued_lines.append(number)
                else:
                    reason = "empty line" if not text.strip() else (
                        f"wrong column count (expected {expected}, got {actual})"
                    )
                    quarantine.add(label, number, reason, text)
            invalid.clear()
            g = np.asarray(valid_before, dtype=np.int64)
            lines = k + 2 + np.searchsorted(g, k, side="right")
            df = df.select(columns)
            # a blank line comes back as a row of empty strings: quarantine it as what it is
            blank = df.select(pl.all_horizontal(pl.all().fill_null("") == "")).to_series().to_numpy()
            if blank.any():
                for line in lines[blank].tolist():
                    quarantine.add(label, line, "empty line", "")
                df, lines = df.filter(pl.Series(~blank)), lines[~blank]
            if rescued_rows:
                df = pl.concat([df, pl.DataFrame(rescued_rows, schema={c: pl.Utf8 for c in columns})])
                lines = np.concatenate([lines, np.asarray(rescued_lines, dtype=np.int64)])
            yield CsvBatch(df=df, lines=lines, nbytes_read=fh.tell(), rescued=len(rescued_rows))
        # rows the handler saw after the last batch (a file whose data rows are all invalid)
        for number, text, expected, actual in invalid:
            reason = "empty line" if not text.strip() else (
                f"wrong column count (expected {expected}, got {actual})"
            )
            quarantine.add(label, number, reason, text)
    except pa.ArrowInvalid as exc:
        # what the handler cannot catch (e.g. an unterminated quote at end of file)
        # the first line not yet accounted for (header + valid rows + invalid rows so far)
        line = 2 + n_valid + len(invalid_lines)
        quarantine.add(label, line, f"unparseable rest of file from here ({exc})", "")
    finally:
        fh.close()


def read_small_csv(path: Path, quarantine: Quarantine, label: str) -> pl.DataFrame:
    """A small headered CSV (LDAP, psychometric) as strings; rows of the wrong width quarantined."""
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise EmptyFileError(f"{path} is empty (no header line)")
        header = [h.strip() for h in header]
        rows: list[list[str]] = []
        for row in reader:
            if not row:
                continue  # blank line: not a record, nothing lost
            if len(row) != len(header):
                quarantine.add(
                    label, reader.line_num,
                    f"wrong column count (expected {len(header)}, got {len(row)})", ",".join(row),
                )
                continue
            rows.append(row)
    return pl.DataFrame(rows, schema={h: pl.Utf8 for h in header}, orient="row")
