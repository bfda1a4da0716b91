"""Pieces of one log file that start and end on line boundaries, for reading in parallel.

A piece must know the physical line number of its first line, because quarantine rows and own
logs' `<file>:<line>` event ids carry global line numbers. So a file is split in two cheap steps
before any parsing: cut points found by seeking (a few bytes read per cut, never the whole file
at once), then the line breaks of each range counted (a plain byte count, run per piece in
parallel). A CSV piece after the first is parsed as the file's header line followed by its
range, so the parser sees a small, whole CSV file. Parquet files are split by row groups
instead (their footer gives the row counts).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

_READ = 1 << 20  # bytes read at a time when looking for a newline or counting


@dataclass(frozen=True)
class Chunk:
    """One piece of a file: bytes [start, end) whose first line is line `first_line` (1 = the
    file's first line, the header of a CSV); for Parquet, `row_groups` instead, `first_line`
    being the 1-based number of its first row."""

    start: int
    end: int
    first_line: int = 1
    row_groups: tuple[int, ...] | None = None


def cut_points(path: Path, chunk_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges of about `chunk_bytes` that cover `path`, each ending just after a newline
    (the last one at the end of the file). A line longer than `chunk_bytes` stays whole."""
    size = Path(path).stat().st_size
    ranges: list[tuple[int, int]] = []
    start = 0
    with open(path, "rb") as fh:
        while start < size:
            cut = _next_line_start(fh, start + max(1, chunk_bytes), size)
            ranges.append((start, cut))
            start = cut
    return ranges


def _next_line_start(fh: io.BufferedReader, pos: int, size: int) -> int:
    """The offset just after the first newline at or after byte `pos - 1` (so `pos` itself when
    a line ends there), or `size`."""
    if pos >= size:
        return size
    fh.seek(pos - 1)
    offset = pos - 1
    while True:
        block = fh.read(_READ)
        if not block:
            return size
        i = block.find(b"\n")
        if i >= 0:
            return offset + i + 1
        offset += len(block)


def count_breaks(path: Path, start: int, end: int, universal: bool = False) -> int:
    """Line breaks in bytes [start, end) of `path`: newlines, or with `universal` what Python's
    text mode counts (LF, CRLF and a lone CR), as the JSON-lines reader numbers lines."""
    n, prev_cr = 0, False
    with open(path, "rb") as fh:
        fh.seek(start)
        left = end - start
        while left > 0:
            block = fh.read(min(_READ, left))
            if not block:
                break
            left -= len(block)
            n += block.count(b"\n")
            if universal:
                n += block.count(b"\r") - block.count(b"\r\n") - (prev_cr and block.startswith(b"\n"))
                prev_cr = block.endswith(b"\r")
    return n


def line_chunks(ranges: list[tuple[int, int]], breaks: list[int]) -> list[Chunk]:
    """`Chunk`s of consecutive `ranges` given the line breaks counted in each."""
    chunks, line = [], 1
    for (start, end), n in zip(ranges, breaks):
        chunks.append(Chunk(start, end, line))
        line += n
    return chunks


def parquet_chunks(path: Path, chunk_bytes: int) -> list[Chunk]:
    """Consecutive row groups of about `chunk_bytes` (uncompressed) each, numbered by row."""
    meta = pq.ParquetFile(path).metadata
    chunks: list[Chunk] = []
    group: list[int] = []
    size, row, first = 0, 1, 1
    for i in range(meta.num_row_groups):
        rg = meta.row_group(i)
        if group and size + rg.total_byte_size > chunk_bytes:
            chunks.append(Chunk(0, 0, first, tuple(group)))
            group, size, first = [], 0, row
        group.append(i)
        size += rg.total_byte_size
        row += rg.num_rows
    if group or not chunks:
        chunks.append(Chunk(0, 0, first, tuple(group)))
    return chunks


class RangeReader(io.RawIOBase):
    """Segments of one file read as one stream: the header line then a piece's bytes (CSV), or a
    piece's bytes alone. `tell()` counts the bytes of the last segment read so far."""

    def __init__(self, path: Path, segments: list[tuple[int, int]]) -> None:
        self._fh = open(path, "rb")
        self._segments = [s for s in segments if s[1] > s[0]]
        self._i = 0
        self._pos = self._segments[0][0] if self._segments else 0
        self._done = 0
        if self._segments:
            self._fh.seek(self._pos)

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        while self._i < len(self._segments):
            start, end = self._segments[self._i]
            n = min(len(buf), end - self._pos)
            if n > 0:
                got = self._fh.readinto(memoryview(buf)[:n])
                if got:
                    self._pos += got
                    if self._i == len(self._segments) - 1:
                        self._done += got
                    return got
            self._i += 1
            if self._i < len(self._segments):
                self._pos = self._segments[self._i][0]
                self._fh.seek(self._pos)
        return 0

    def tell(self) -> int:
        return self._done

    def close(self) -> None:
        self._fh.close()
        super().close()


def header_end(path: Path) -> int:
    """The offset just after the file's first newline (the end of a CSV header line)."""
    with open(path, "rb") as fh:
        return _next_line_start(fh, 1, Path(path).stat().st_size)


def open_chunk(path: Path, chunk: Chunk, with_header: bool) -> RangeReader:
    """A piece's bytes, after the header line when `with_header` and the piece is not the first."""
    if with_header and chunk.start > 0:
        return RangeReader(path, [(0, header_end(path)), (chunk.start, chunk.end)])
    return RangeReader(path, [(chunk.start, chunk.end)])
