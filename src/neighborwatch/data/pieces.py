"""One log file read whole or in pieces: the unit of reading that both prepare engines run.

`read_piece` reads a file, or one `chunks.Chunk` of it, with the same readers (`cert.read_log`,
`ownlogs.read_own_logs`) into an `EventStore` and a `Quarantine`. The local engine calls it once
per file in this process; the Ray engine calls it once per piece in a task, with a store and a
quarantine of the piece's own that the driver absorbs in reading order. `plan_ranges` is how a
file is cut (line boundaries; Parquet: row groups); the line breaks of each range are counted
before reading so that every piece numbers its lines as the whole file does. `PiecewiseReader`
is the whole scheme given a way to run many calls (`RunMany`: in this process, or Ray tasks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from neighborwatch import progress as pg
from neighborwatch.data.cert import ReleaseInfo, read_log
from neighborwatch.data.chunks import Chunk, count_breaks, cut_points, line_chunks, parquet_chunks
from neighborwatch.data.csvstream import EmptyFileError
from neighborwatch.data.eventstore import EventStore
from neighborwatch.data.ownlogs import Mapping, MappingError, read_own_logs
from neighborwatch.data.quarantine import CollectedQuarantine, Quarantine
from neighborwatch.data.schema import DType

# run fn(*args) for every args, results in the order given (lazily: the first result may be asked
# for before the last call is done)
RunMany = Callable[[Callable[..., Any], list[tuple]], Iterator[Any]]
Part = tuple[int, Path, int]  # EventStore.added: (week bucket, part file, rows)


@dataclass(frozen=True)
class LogFile:
    """A log to read: a CERT log (`source` + `info`) or a file of your own logs (`fmt` + `mapping`)."""

    path: Path
    label: str  # its name in the quarantine and the summary
    keep_content: bool = False
    source: str | None = None
    info: ReleaseInfo | None = None
    fmt: str | None = None
    mapping: Mapping | None = None

    @property
    def by_lines(self) -> bool:
        return self.fmt != "parquet"

    @property
    def universal_newlines(self) -> bool:
        """JSON lines are read in text mode, which also ends a line at a lone CR."""
        return self.fmt == "jsonl"


@dataclass(frozen=True)
class PieceStats:
    """What reading a piece gave besides its events and quarantine rows. `error` (own logs):
    (kind, message) with kind "empty" (no header), "unreadable" or "mapping" (a --map that does
    not fit the file): the rest of the file is not read."""

    rows: int = 0
    rescued: int = 0
    error: tuple[str, str] | None = None

    def then(self, later: PieceStats) -> PieceStats:
        """The stats of this piece followed by the next piece of the same file."""
        return PieceStats(self.rows + later.rows, self.rescued + later.rescued, later.error)


def read_piece(
    file: LogFile,
    store: EventStore,
    quarantine: Quarantine,
    chunk: Chunk | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> PieceStats:
    """Read `file` (or its `chunk`) into `store`; bad rows go to `quarantine` with the line
    numbers of the whole file. `on_bytes(position)`: progress within the file (CERT logs)."""
    if file.source is not None:
        assert file.info is not None
        rows = rescued = 0
        for events, batch in read_log(file.info, file.source, quarantine, file.keep_content, chunk=chunk):
            store.add(events)
            rows += events.height
            rescued += batch.rescued
            if on_bytes is not None:
                on_bytes(batch.nbytes_read)
        return PieceStats(rows, rescued)
    assert file.fmt is not None and file.mapping is not None
    rows = 0
    try:
        for events in read_own_logs(
            file.path, file.fmt, file.mapping, quarantine, file.label, file.keep_content, chunk
        ):
            store.add(events)
            rows += events.height
    except EmptyFileError:
        return PieceStats(rows, error=("empty", ""))
    except MappingError as exc:  # the --map is wrong for this file: the user must fix it
        return PieceStats(rows, error=("mapping", str(exc)))
    except (OSError, ValueError) as exc:
        return PieceStats(rows, error=("unreadable", str(exc)))
    return PieceStats(rows)


def plan_ranges(file: LogFile, chunk_bytes: int) -> list[Chunk]:
    """The pieces of `file`, of about `chunk_bytes` each; for line-based files their first lines
    are not known yet (see `numbered`)."""
    if not file.by_lines:
        return parquet_chunks(file.path, chunk_bytes)
    return [Chunk(start, end) for start, end in cut_points(file.path, chunk_bytes)]


def count_piece(file: LogFile, chunk: Chunk) -> int:
    """Line breaks in a piece, as its file's reader counts them."""
    return count_breaks(file.path, chunk.start, chunk.end, universal=file.universal_newlines)


def numbered(file: LogFile, chunks: list[Chunk], breaks: list[int]) -> list[Chunk]:
    """`chunks` with their first line numbers, given the line breaks counted in each."""
    return line_chunks([(c.start, c.end) for c in chunks], breaks) if file.by_lines else chunks


def in_process(fn: Callable[..., Any], calls: list[tuple]) -> Iterator[Any]:
    """`RunMany` in this process, one call after another."""
    return (fn(*args) for args in calls)


def read_piece_apart(
    file: LogFile, chunk: Chunk, parts_dir: Path, schema: dict[str, DType], prefix: str
) -> tuple[list[Part], list[tuple[str, int, str, str]], PieceStats]:
    """`read_piece` into a store and a quarantine of the piece's own (parts written into the
    shared `parts_dir`, names starting with `prefix`): what a task sends back to be absorbed."""
    store = EventStore(parts_dir, extra=schema, prefix=prefix, fresh=False)
    q = CollectedQuarantine()
    stats = read_piece(file, store, q, chunk)
    return store.added, q.rows, stats


def sort_group_apart(store: EventStore, i: int, group: list[int]) -> list[Path]:
    return store.write_sorted(i, group)


class PiecewiseReader:
    """A `data.prepare.Reader` that cuts every file into pieces of about `chunk_bytes`, reads
    them with `run` and sorts the week groups with `run`, giving the file `LocalReader` gives:
    pieces are absorbed in file and piece order (so ties sort alike), a piece that ends its file
    early (own logs: unreadable) drops the later pieces of that file, and quarantine rows carry
    the whole file's line numbers."""

    def __init__(self, run: RunMany, chunk_bytes: int) -> None:
        self.run, self.chunk_bytes = run, max(1, int(chunk_bytes))

    def pieces(self, files: list[LogFile]) -> list[list[Chunk]]:
        """Each file's pieces, numbered (line breaks counted by `run`, but the last piece's)."""
        plans = [plan_ranges(f, self.chunk_bytes) for f in files]
        calls = [(f, c) for f, cs in zip(files, plans) if f.by_lines for c in cs[:-1]]
        counts = iter(list(self.run(count_piece, calls)))
        return [
            numbered(f, cs, [next(counts) for _ in cs[:-1]] + [0]) if f.by_lines else cs for f, cs in zip(files, plans)
        ]

    def read(self, files: list[LogFile], store: EventStore, q: Quarantine) -> Iterator[PieceStats]:
        with pg.progress() as bar:
            task = bar.add_task("reading logs (bytes)", total=sum(f.path.stat().st_size for f in files))
            pieces = self.pieces(files)
            calls = [
                (f, c, store.parts_dir, store.schema, f"p{i:04d}-{k:05d}-")
                for i, (f, cs) in enumerate(zip(files, pieces))
                for k, c in enumerate(cs)
            ]
            results = self.run(read_piece_apart, calls)
            for f, cs in zip(files, pieces):
                stats, stopped = PieceStats(), False
                for c in cs:
                    parts, rows, piece = next(results)
                    bar.advance(task, c.end - c.start if f.by_lines else f.path.stat().st_size / len(cs))
                    if stopped:
                        continue
                    store.absorb(parts)
                    for row in rows:
                        q.add(*row)
                    stats, stopped = stats.then(piece), piece.error is not None
                yield stats

    def sort(self, store: EventStore, out: Path, on_group: Any) -> None:
        groups = store.groups()
        done = self.run(sort_group_apart, [(store, i, g) for i, g in enumerate(groups)])

        def frames(i: int, group: list[int]) -> Iterable[pl.DataFrame]:
            for path in next(done):
                frame = pl.read_parquet(path)
                path.unlink()
                yield frame

        store.finish(out, on_group=on_group, frames=frames)
