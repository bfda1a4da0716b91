"""Own logs (csv / jsonl / parquet + --map) into the canonical schema (hand-written fake rows)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from neighborwatch.data.ownlogs import MappingError, parse_mapping
from neighborwatch.data.prepare import ingest
from neighborwatch.data.schema import EVENT_SCHEMA

ROWS = [
    {"login": "alice", "ts": "2024-03-04T09:00:00", "event": "Logon", "machine": "ws-1", "bytes": "10"},
    {"login": "alice", "ts": "2024-03-04T09:05:00Z", "event": "Connect", "machine": "ws-1", "bytes": ""},
    {"login": "bob", "ts": "2024-03-04 08:59:59", "event": "git push", "machine": "", "bytes": "2048"},
    {"login": "bob", "ts": "1709542800", "event": "Logoff", "machine": "ws-2", "bytes": "0"},
]
MAP = "user=login,time=ts,action=event,host=machine,size=bytes"


def _write(fmt: str, path: Path, rows: list[dict]) -> Path:
    if fmt == "csv":
        pl.DataFrame(rows).write_csv(path)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pl.DataFrame(rows).write_parquet(path)
    return path


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_each_format_gives_the_canonical_schema(tmp_path: Path, fmt: str) -> None:
    src = _write(fmt, tmp_path / f"log.{fmt}", ROWS)
    summary = ingest(src, tmp_path / "w", fmt=fmt, mapping=MAP)
    events = pl.read_parquet(tmp_path / "w" / "events.parquet")
    assert events.schema == pl.Schema(EVENT_SCHEMA)
    assert summary["release"] == "own" and summary["quarantined"]["rows"] == 0
    assert events.height == len(ROWS)
    assert events.equals(events.sort(["time", "event_id"]))
    by_action = {r["action"]: r for r in events.iter_rows(named=True)}
    assert str(by_action["git push"]["time"]) == "2024-03-04 08:59:59"
    assert str(by_action["Connect"]["time"]) == "2024-03-04 09:05:00"  # Z → naive UTC
    assert str(by_action["Logoff"]["time"]) == "2024-03-04 09:00:00"  # epoch seconds
    # defaults: source from the CERT action family, else other; host unknown when empty
    assert {a: r["source"] for a, r in by_action.items()} == {
        "Logon": "logon", "Connect": "device", "git push": "other", "Logoff": "logon"}
    assert by_action["git push"]["host"] == "unknown" and by_action["Logon"]["host"] == "ws-1"
    assert by_action["git push"]["size"] == 2048 and by_action["Connect"]["size"] is None
    # event ids are file:line, deterministic
    line_of = {"csv": [2, 3, 4, 5], "jsonl": [1, 2, 3, 4], "parquet": [1, 2, 3, 4]}[fmt]
    expected = {r["event"]: f"log.{fmt}:{n}" for r, n in zip(ROWS, line_of)}
    assert {a: r["event_id"] for a, r in by_action.items()} == expected


def test_folder_of_files_mapped_ids_and_sources(tmp_path: Path) -> None:
    src = tmp_path / "logs"
    (src / "b").mkdir(parents=True)
    kinds = ["", "auth", "", "telepathy"]  # a mapped source is read as a category word
    rows = [{**r, "id": f"e{i}", "kind": k} for i, (r, k) in enumerate(zip(ROWS, kinds))]
    _write("csv", src / "a.csv", rows[:2])
    _write("csv", src / "b" / "c.csv", rows[2:])
    (src / "notes.txt").write_text("not a log")
    ingest(src, tmp_path / "w", fmt="csv", mapping=MAP + ",event_id=id,source=kind")
    events = pl.read_parquet(tmp_path / "w" / "events.parquet")
    assert sorted(events["event_id"]) == ["e0", "e1", "e2", "e3"]
    src_of = dict(zip(events["event_id"], events["source"]))
    assert src_of == {"e0": "logon", "e1": "logon", "e2": "other", "e3": "other"}
    again = tmp_path / "w2"
    ingest(src, again, fmt="csv", mapping=MAP + ",event_id=id,source=kind")
    assert pl.read_parquet(again / "events.parquet").equals(events)  # deterministic


def test_keep_content_for_own_logs(tmp_path: Path) -> None:
    rows = [{**r, "msg": f"text {i}"} for i, r in enumerate(ROWS)]
    src = _write("jsonl", tmp_path / "l.jsonl", rows)
    ingest(src, tmp_path / "w", fmt="jsonl", mapping=MAP + ",content=msg", keep_content=True)
    events = pl.read_parquet(tmp_path / "w" / "events.parquet")
    assert events.columns[-1] == "content" and sorted(events["content"]) == [f"text {i}" for i in range(4)]
    ingest(src, tmp_path / "w3", fmt="jsonl", mapping=MAP + ",content=msg")
    assert "content" not in pl.read_parquet(tmp_path / "w3" / "events.parquet").columns


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (None, "--map"),
        ("user=login,time=ts", "lacks action"),
        ("user=login,time=ts,action=event,colour=x", "unknown"),
        ("user=login,user=ts,time=ts,action=event", "twice"),
        ("user=login,time,action=event", "KEY=COLUMN"),
    ],
)
def test_bad_mappings_are_clear_errors(mapping: str | None, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        parse_mapping(mapping)


def test_mapped_column_missing_from_file(tmp_path: Path) -> None:
    src = _write("csv", tmp_path / "log.csv", ROWS)
    with pytest.raises(MappingError, match="nope"):
        ingest(src, tmp_path / "w", fmt="csv", mapping="user=nope,time=ts,action=event")
    with pytest.raises(ValueError, match="--format"):
        ingest(src, tmp_path / "w", mapping=MAP)


@pytest.mark.parametrize("budget", [10**9, 700, 50])
def test_unsorted_input_is_sorted_whatever_the_memory_budget(tmp_path: Path, budget: int) -> None:
    """Own logs may come in any order; a week over the row budget is sorted day by day."""
    import numpy as np
    from datetime import datetime, timedelta

    from neighborwatch.data.eventstore import EventStore
    from neighborwatch.data.schema import conform_events

    rng = np.random.default_rng(7)
    n = 5000
    t0 = datetime(2024, 1, 1)
    secs = rng.integers(0, 30 * 86400, n) // 600 * 600  # many equal times: ties broken by id
    df = conform_events(pl.DataFrame({
        "event_id": [f"e{i:05d}" for i in rng.permutation(n)],
        "time": [t0 + timedelta(seconds=int(s)) for s in secs],
        "user": "u", "host": "h", "source": "other", "action": "x",
    }))
    store = EventStore(tmp_path / "parts", rows_per_group=budget)
    for chunk in df.iter_slices(777):
        store.add(chunk)
    assert store.finish(tmp_path / "events.parquet") == n
    assert pl.read_parquet(tmp_path / "events.parquet").equals(df.sort(["time", "event_id"]))
    assert not (tmp_path / "parts").exists()
