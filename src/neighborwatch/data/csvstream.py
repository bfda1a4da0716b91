"""Streaming CSV reading that knows the physical line of every row (for the quarantine).

pyarrow's streaming reader parses a file block by block (bounded memory however big the file),
hands rows with the wrong number of fields to a handler instead of failing, and, when run
single-threaded, tells that handler the physical line number. Valid rows get their line numbers
back from the list of invalid ones (the k-th valid row is the k-th line that was not invalid), so
a bad date found later in a valid row can still be quarantined with its exact line.
Values containing newlines are not supported (CERT files have none): such a row is split and
both halves are quarantined, never silently merged.

pyarrow gives up on the rest of a file at the first undecodable byte, unterminated quote or line
longer than a block, so the bytes pass through `LineGuard` first: it blanks exactly those lines
(each quarantined with its true line number and reason) and keeps the line count, so pyarrow's
numbering and every good row survive. Clean blocks are checked at C speed (decode, regex, numpy);
only a block with a bad line is walked line by line.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from neighborwatch.data.chunks import Chunk, open_chunk
from neighborwatch.data.quarantine import Quarantine, escape_raw

BLOCK_SIZE = 4 << 20  # bytes per parsed block; pyarrow reads ahead many blocks, so peak RSS ~ 60x this
MAX_LINE_BYTES = 1 << 20  # a longer line is quarantined (and never held in memory whole)
_CHUNK = 1 << 20  # bytes the guard reads at a time
# C0 controls other than tab / LF / CR, and a lone CR (pyarrow would end a row there)
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\r(?!\n|\Z)")
# a line with an odd number of quotes: a quoted value that never ends on its line
_CONTROLS = bytes(range(0, 9)) + b"\x0b\x0c" + bytes(range(14, 32))  # for a fast first check
_ODD_QUOTES = re.compile(rb'^(?:[^"\n]*"[^"\n]*")*[^"\n]*"[^"\n]*$', re.M)


class EmptyFileError(ValueError):
    """A log file with no header at all (zero bytes or only blank space)."""


@dataclass
class CsvBatch:
    df: pl.DataFrame  # all columns as strings
    lines: np.ndarray  # int64 physical line number (1 = header) of each row
    nbytes_read: int  # file position after this batch, for progress bars
    rescued: int = 0  # rows with too many fields that the rescue callback kept


class LineGuard(io.RawIOBase):
    """A binary file seen through a filter that blanks undecodable, binary, unterminated-quote
    and oversized lines (quarantining each) but keeps every newline, so line numbers hold.
    `line_offset`: added to the line numbers it quarantines (a piece of a file: see `stream_csv`)."""

    def __init__(
        self,
        fh: io.RawIOBase | io.BufferedIOBase,
        quarantine: Quarantine,
        label: str,
        max_line_bytes: int,
        line_offset: int = 0,
    ) -> None:
        self._fh, self._q, self._label, self._max = fh, quarantine, label, max_line_bytes
        self._offset = line_offset
        self._out = memoryview(b"")  # cleaned bytes not yet handed to pyarrow
        self._pending = b""  # raw bytes after the last newline read so far
        self._line = 1  # physical line number of the first byte of `_pending`
        self._skipping = False  # inside an oversized line: drop bytes up to its newline
        self._eof = False
        self.blanked: set[int] = set()  # lines quarantined here (pyarrow sees them empty), unshifted

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        while not self._out and not self._eof:
            self._fill()
        n = min(len(buf), len(self._out))
        buf[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def _emit(self, data: bytes) -> None:
        self._out = memoryview(bytes(self._out) + data) if self._out else memoryview(data)

    def tell(self) -> int:
        return self._fh.tell()

    def _fill(self) -> None:
        raw = self._fh.read(_CHUNK)
        if not raw:
            self._eof = True
            if self._pending:
                self._emit(self._clean(self._pending))
                self._pending = b""
            return
        if self._skipping:
            cut = raw.find(b"\n")
            if cut < 0:
                return
            self._skipping = False
            self._emit(b"\n")
            self._line += 1
            raw = raw[cut + 1 :]
        data = self._pending + raw
        cut = data.rfind(b"\n")
        if self._line == 1 and cut >= 0:  # the header goes through as it is (read_header checks it)
            self._emit(data[: data.find(b"\n") + 1])
            data = data[data.find(b"\n") + 1 :]
            self._line = 2
            cut = data.rfind(b"\n")
        if cut < 0:
            if len(data) > self._max:  # one line longer than allowed: quarantine its start, skip it
                self._quarantine(self._line, f"line longer than {self._max} bytes", data)
                self._skipping = True
                self._pending = b""
            else:
                self._pending = data
            return
        self._pending = data[cut + 1 :]
        self._emit(self._clean(data[: cut + 1]))

    def _clean(self, block: bytes) -> bytes:
        """`block` holds whole lines (the last one may lack its newline, at end of file)."""
        first = self._line
        ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
        self._line += len(ends)
        if first == 1:  # a file that is a header only
            return block
        bad: dict[int, str] = {}  # index of the line in this block → reason
        lengths = np.diff(np.concatenate([[-1], ends, [len(block)]])) - 1
        if block.endswith(b"\n"):
            lengths = lengths[:-1]
        for i in np.flatnonzero(lengths > self._max).tolist():
            bad[i] = f"line longer than {self._max} bytes"
        pos, view = 0, memoryview(block)
        while True:
            try:
                str(view[pos:], "utf-8")
                break
            except UnicodeDecodeError as exc:
                i = int(np.searchsorted(ends, pos + exc.start))
                bad.setdefault(i, f"not UTF-8 (byte 0x{block[pos + exc.start]:02x})")
                if i >= len(ends):
                    break
                pos = int(ends[i]) + 1
        for pattern, reason in ((_BINARY, "binary data"), (_ODD_QUOTES, "unterminated quote")):
            if pattern is _ODD_QUOTES and b'"' not in block:
                continue
            if (
                pattern is _BINARY
                and len(block.translate(None, _CONTROLS)) == len(block)
                and (block.count(b"\r") == block.count(b"\r\n"))
            ):
                continue  # the common case, at C speed (the regex is ~20x slower)
            for m in pattern.finditer(block):
                bad.setdefault(int(np.searchsorted(ends, m.start())), reason)
        if not bad:
            return block
        starts = np.concatenate([[0], ends + 1])
        pieces, prev = [], 0
        for i in sorted(bad):
            s, e = int(starts[i]), int(ends[i]) if i < len(ends) else len(block)
            self._quarantine(first + i, bad[i], block[s:e])
            pieces.append(block[prev:s])
            prev = e  # keep the newline
        pieces.append(block[prev:])
        return b"".join(pieces)

    def _quarantine(self, line: int, reason: str, raw: bytes) -> None:
        self.blanked.add(line)
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        self._q.add(self._label, line + self._offset, reason, escape_raw(raw))


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
    max_line_bytes: int = MAX_LINE_BYTES,
    chunk: Chunk | None = None,
) -> Iterator[CsvBatch]:
    """Yield batches of `columns` (strings) with line numbers; bad rows go to `quarantine`.

    `label` is the file name written into the quarantine. Rows with too many fields are offered
    to `rescue` (they come back appended to the batch); all other invalid rows are quarantined.
    Every data line ends up in exactly one place: a batch row or a quarantine row.
    `chunk`: read only that piece of the file (parsed as the header line + its lines, every line
    number shifted to the file's), so that the pieces of a file give what the whole file gives.
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
    # pyarrow numbers the lines of what it reads (1 = the header); a later piece's first line is 2 there
    offset = 0 if chunk is None or chunk.start == 0 else chunk.first_line - 2
    fh: io.RawIOBase | io.BufferedIOBase = (
        path.open("rb") if chunk is None else open_chunk(path, chunk, with_header=True)
    )
    guard = LineGuard(fh, quarantine, label, min(max_line_bytes, block_size // 2), line_offset=offset)
    try:
        reader = pacsv.open_csv(
            guard,
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
                    rescued_lines.append(number + offset)
                elif number not in guard.blanked:
                    reason = (
                        "empty line"
                        if not text.strip()
                        else (f"wrong column count (expected {expected}, got {actual})")
                    )
                    quarantine.add(label, number + offset, reason, text)
            invalid.clear()
            g = np.asarray(valid_before, dtype=np.int64)
            lines = k + 2 + offset + np.searchsorted(g, k, side="right")
            df = df.select(columns)
            # a blank line comes back as a row of empty strings: quarantine it as what it is
            blank = df.select(pl.all_horizontal(pl.all().fill_null("") == "")).to_series().to_numpy()
            if blank.any():
                for line in lines[blank].tolist():
                    if line - offset not in guard.blanked:
                        quarantine.add(label, line, "empty line", "")
                df, lines = df.filter(pl.Series(~blank)), lines[~blank]
            if rescued_rows:  # back in line order, so that row order never depends on where a batch ends
                df = pl.concat([df, pl.DataFrame(rescued_rows, schema={c: pl.Utf8 for c in columns})])
                lines = np.concatenate([lines, np.asarray(rescued_lines, dtype=np.int64)])
                order = np.argsort(lines, kind="stable")
                df, lines = df[order], lines[order]
            yield CsvBatch(df=df, lines=lines, nbytes_read=fh.tell(), rescued=len(rescued_rows))
        # rows the handler saw after the last batch (a file whose data rows are all invalid)
        for number, text, expected, actual in invalid:
            if number in guard.blanked:
                continue
            reason = "empty line" if not text.strip() else (f"wrong column count (expected {expected}, got {actual})")
            quarantine.add(label, number + offset, reason, text)
    except pa.ArrowInvalid as exc:
        # what the handler cannot catch (e.g. an unterminated quote at end of file)
        # the first line not yet accounted for (header + valid rows + invalid rows so far)
        line = 2 + n_valid + len(invalid_lines) + offset
        quarantine.add(label, line, f"unparseable rest of file from here ({exc})", "")
    finally:
        fh.close()


def line_fault(raw: bytes, max_line_bytes: int = MAX_LINE_BYTES) -> str | None:
    """Why one physical line (without its newline) cannot be a record, or None: the same rules
    `LineGuard` applies block-wise."""
    if len(raw) > max_line_bytes:
        return f"line longer than {max_line_bytes} bytes"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 (byte 0x{raw[exc.start]:02x})"
    if _BINARY.search(raw.removesuffix(b"\r")):
        return "binary data"
    if raw.count(b'"') % 2:
        return "unterminated quote"
    return None


def read_small_csv(path: Path, quarantine: Quarantine, label: str) -> pl.DataFrame:
    """A small headered CSV (LDAP, psychometric) as strings; bad lines and rows of the wrong width
    quarantined (a line is a record, as in `stream_csv`)."""
    with path.open("rb") as fh:
        lines = fh.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    header_text = lines[0].decode("utf-8", errors="replace").removeprefix("\ufeff") if lines else ""
    header = next(csv.reader([header_text]), [])
    if not any(h.strip() for h in header):
        raise EmptyFileError(f"{path} is empty (no header line)")
    header = [h.strip() for h in header]
    rows: list[list[str]] = []
    for number, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue  # blank line: not a record, nothing lost
        fault = line_fault(raw)
        if fault is not None:
            quarantine.add(label, number, fault, escape_raw(raw))
            continue
        row = next(csv.reader([raw.decode("utf-8").removesuffix("\r")]))
        if len(row) != len(header):
            quarantine.add(label, number, f"wrong column count (expected {len(header)}, got {len(row)})", ",".join(row))
            continue
        rows.append(row)
    return pl.DataFrame(rows, schema={h: pl.Utf8 for h in header}, orient="row")
