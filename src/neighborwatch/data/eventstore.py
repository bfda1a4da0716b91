"""One time-sorted events.parquet from batches that arrive in any order, with bounded memory.

An external sort by time buckets: every incoming batch is split by week and written as small
Parquet parts; at the end, consecutive weeks are grouped up to a row budget, each group is read,
sorted by (time, event_id) and appended to the output. A single week over the budget is read
day by day (predicate scans of its parts). Peak memory is one group (or one day), whatever the
total size; input order does not matter (the r6.2
samples are shuffled, own logs may be), and the result is the same for the same input.

Parts may also be written elsewhere (one store per piece of a file, read by a Ray task) and
handed over with `absorb` in reading order, and a group may be sorted elsewhere
(`write_sorted`): `finish` then writes the same file, because ties in (time, event_id) keep the
order the parts were absorbed in, and the frames (so the row groups) are the same.
"""

from __future__ import annotations

import shutil
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from neighborwatch.data.schema import EVENT_SCHEMA, DType

SORT_KEY = ["time", "event_id"]
EPOCH = datetime(1970, 1, 1)  # week buckets are (days since this) // 7
ROWS_PER_GROUP = 250_000
ROW_GROUP_SIZE = 256 * 1024
PART_COMPRESSION: Final = "lz4"  # parts are written once and read once: speed over size
COMPRESSION = "zstd"  # lz4 measured only ~5% faster to write here, for 1.6x the file size
DICTIONARY_COLUMNS = ("user", "host", "source", "action", "domain")
STATISTICS_COLUMNS = ("time", "event_id", "user", "host", "source", "action")


def event_schema(extra: dict[str, DType] | None = None) -> dict[str, DType]:
    return {**EVENT_SCHEMA, **(extra or {})}


class EventStore:
    """Collect canonical event batches; `finish` writes the sorted file and removes the parts."""

    def __init__(
        self,
        parts_dir: Path,
        extra: dict[str, DType] | None = None,
        rows_per_group: int = ROWS_PER_GROUP,
        prefix: str = "",
        fresh: bool = True,
    ) -> None:
        """`fresh`: start from an empty `parts_dir`; `prefix`: of this store's part names (a
        store per piece shares the folder of the store that absorbs it)."""
        self.parts_dir = Path(parts_dir)
        if fresh and self.parts_dir.exists():
            shutil.rmtree(self.parts_dir)
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        self.schema = event_schema(extra)
        self.rows_per_group = rows_per_group
        self.prefix = prefix
        self.bucket_rows: Counter[int] = Counter()
        self.bucket_files: dict[int, list[Path]] = defaultdict(list)
        self.added: list[tuple[int, Path, int]] = []  # (week bucket, part, rows) in the order written
        self._n = 0

    def add(self, events: pl.DataFrame) -> None:
        if events.height == 0:
            return
        events = events.select(
            [(pl.col(c) if c in events.columns else pl.lit(None)).cast(t).alias(c) for c, t in self.schema.items()]
        )
        week = (pl.col("time").dt.epoch("d") // 7).alias("_week")
        for key, part in events.with_columns(week).partition_by("_week", as_dict=True).items():
            bucket = int(key[0])
            path = self.parts_dir / f"{self.prefix}w{bucket}-{self._n:07d}.parquet"
            self._n += 1
            part.drop("_week").write_parquet(path, compression=PART_COMPRESSION, statistics=False)
            self._record(bucket, path, part.height)

    def _record(self, bucket: int, path: Path, rows: int) -> None:
        self.bucket_rows[bucket] += rows
        self.bucket_files[bucket].append(path)
        self.added.append((bucket, path, rows))

    def absorb(self, parts: Iterable[tuple[int, Path, int]]) -> None:
        """Take over parts another store wrote (its `added`), after this store's own."""
        for bucket, path, rows in parts:
            self._record(bucket, Path(path), rows)

    def groups(self) -> list[list[int]]:
        """Consecutive week buckets up to the row budget, sorted as one frame each (a single
        week over the budget: one frame a day)."""
        groups: list[list[int]] = []
        current: list[int] = []
        rows = 0
        for bucket in sorted(self.bucket_rows):
            n = self.bucket_rows[bucket]
            if current and rows + n > self.rows_per_group:
                groups.append(current)
                current, rows = [], 0
            current.append(bucket)
            rows += n
        if current:
            groups.append(current)
        return groups

    def finish(
        self,
        out: Path,
        on_group: Callable[[], None] | None = None,
        frames: Callable[[int, list[int]], Iterable[pl.DataFrame]] | None = None,
    ) -> int:
        """Write `out` sorted by (time, event_id); returns the row count. `frames(i, group)`:
        the i-th group's sorted frames, when they were sorted elsewhere (`write_sorted`)."""
        arrow_schema = pl.DataFrame(schema=self.schema).to_arrow().schema
        tmp = Path(str(out) + ".tmp")
        total = 0
        groups = self.groups()
        # dictionaries only where values repeat: on ids/urls they cost 3x the write time for nothing
        dict_cols = [c for c in DICTIONARY_COLUMNS if c in self.schema]
        stat_cols = [c for c in STATISTICS_COLUMNS if c in self.schema]
        with pq.ParquetWriter(
            tmp, arrow_schema, compression=COMPRESSION, use_dictionary=dict_cols, write_statistics=stat_cols
        ) as writer:
            for i, group in enumerate(groups):
                for frame in frames(i, group) if frames is not None else self._sorted_frames(group):
                    table = frame.rechunk().to_arrow()  # pages must not depend on how the frame was read
                    del frame
                    if table.schema != arrow_schema:
                        table = table.cast(arrow_schema)
                    writer.write_table(table, row_group_size=ROW_GROUP_SIZE)
                    total += table.num_rows
                    del table  # one group (or one day) in memory at a time
                if on_group is not None:
                    on_group()
            if not groups:
                writer.write_table(pa.Table.from_pylist([], schema=arrow_schema))
        tmp.replace(out)
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        return total

    def _sorted_frames(self, group: list[int]) -> Iterator[pl.DataFrame]:
        """The group's events sorted; a single week over the budget is done day by day."""
        files = [f for b in group for f in self.bucket_files[b]]
        if len(group) > 1 or self.bucket_rows[group[0]] <= self.rows_per_group:
            yield pl.read_parquet(files).sort(SORT_KEY, maintain_order=True)
            return
        first_day = EPOCH + timedelta(days=7 * group[0])
        scan = pl.scan_parquet(files)
        for i in range(7):
            lo, hi = first_day + timedelta(days=i), first_day + timedelta(days=i + 1)
            day = scan.filter((pl.col("time") >= lo) & (pl.col("time") < hi))
            yield day.collect().sort(SORT_KEY, maintain_order=True)

    def write_sorted(self, i: int, group: list[int]) -> list[Path]:
        """Sort the i-th group as `finish` would and write its frames as parts (its unsorted
        parts removed): the unit of work of a parallel sort."""
        paths = []
        for k, frame in enumerate(self._sorted_frames(group)):
            path = self.parts_dir / f"sorted-{i:06d}-{k}.parquet"
            frame.write_parquet(path, compression=PART_COMPRESSION, statistics=False)
            paths.append(path)
        for b in group:
            for f in self.bucket_files[b]:
                f.unlink(missing_ok=True)
        return paths

    def n_groups(self) -> int:
        return len(self.groups())
