"""Reading every log in small pieces gives what reading each file whole gives (no Ray needed).

`PiecewiseReader` with the in-process runner is the Ray engine's reading and sorting without Ray:
the same cuts, line counting, absorbing order and quarantine. Bad lines are planted right at the
cuts (tests/piece_faults.py), so the header hand-over, the line numbering of later pieces and the
LineGuard rules are checked where a piece starts or ends.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from neighborwatch.data.chunks import RangeReader, count_breaks, cut_points, parquet_chunks
from neighborwatch.data.pieces import PiecewiseReader, in_process
from neighborwatch.data.prepare import ingest
from piece_faults import plant_at_cuts

CHUNK = 700  # bytes: every file below is cut into many pieces


def _logon(n: int) -> str:
    rows = ["id,date,user,pc,activity"]
    for i in range(n):
        act = "Logon" if i % 2 == 0 else "Logoff"
        rows.append(
            f"{{L{i:05d}}},01/{4 + i // 40:02d}/2010 {8 + i % 10:02d}:{i % 60:02d}:00,U{i % 7},PC-{i % 5},{act}"
        )
    return "\n".join(rows) + "\n"


def _http(n: int) -> str:
    rows = ["id,date,user,pc,url,content"]
    for i in range(n):
        extra = "A Label," if i == 17 else ""  # one row with an extra field before content: rescued
        # ties in (time, event_id) across pieces: the sort must keep reading order
        rows.append(
            f"{{H{i % 10:05d}}},01/{4 + i // 60:02d}/2010 09:{i % 2:02d}:00,U{i % 7},PC-{i % 5},http://s{i % 9}.org/p,{extra}kw {i}"
        )
    return "\n".join(rows)  # no newline after the last line


def _same_work(a: Path, b: Path) -> None:
    for name in ("events.parquet", "labels.parquet"):
        if (a / name).exists() or (b / name).exists():
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
    qa, qb = (pl.read_csv(w / "quarantine.csv", infer_schema=False) for w in (a, b))
    assert qa.equals(qb)
    sa, sb = (json.loads((w / "summary.json").read_text()) for w in (a, b))
    assert sa == sb


def _quarantined(work: Path, file: str) -> dict[int, str]:
    q = pl.read_csv(work / "quarantine.csv", infer_schema=False).filter(pl.col("file") == file)
    return dict(zip(q["line"].cast(pl.Int64).to_list(), q["reason"].to_list()))


def test_cert_logs_read_in_pieces_equal_whole_files_with_bad_lines_at_the_cuts(tmp_path: Path) -> None:
    src = tmp_path / "cert"
    src.mkdir()
    (src / "logon.csv").write_text(_logon(240))
    (src / "http.csv").write_text(_http(180))
    (src / "device.csv").write_text("id,date,user,pc,activity\n")  # a header only
    planted = {f: plant_at_cuts(src / f, CHUNK) for f in ("logon.csv", "http.csv")}
    local = tmp_path / "local"
    summary = ingest(src, local)
    for file, lines in planted.items():  # the faults are where they were planted, found by the local engine
        got = _quarantined(local, file)
        assert set(got) == set(lines)
        assert all(got[line].startswith(reason) for line, reason in lines.items()), got
    assert summary["sources"]["http"]["rescued_extra_fields"] == 1
    reader = PiecewiseReader(in_process, CHUNK)
    pieces = reader.pieces([_file(src / "logon.csv"), _file(src / "http.csv")])
    assert min(len(p) for p in pieces) >= 10
    ingest(src, tmp_path / "pieces", reader=reader)
    _same_work(local, tmp_path / "pieces")


def _file(path: Path):
    from neighborwatch.data.pieces import LogFile

    return LogFile(path, path.name, source=path.stem)


def test_own_logs_in_pieces_number_lines_as_whole_files(tmp_path: Path) -> None:
    """CSV and JSON-lines pieces (event ids are `<file>:<line>`), Parquet by row groups, an empty
    file, bad JSON and a lone CR (a line break in text mode) before later cuts."""
    src = tmp_path / "own"
    src.mkdir()
    csv_rows = ["u,t,a,h"] + [
        f"u{i % 6},2024-03-{1 + i // 30:02d} {i % 24:02d}:{i % 60:02d}:00,login,h{i % 3}" for i in range(200)
    ]
    (src / "a.csv").write_text("\n".join(csv_rows) + "\n")
    plant_at_cuts(src / "a.csv", CHUNK)
    lines = []
    for i in range(220):
        t = "not a time" if i % 37 == 5 else f"2024-03-{1 + i // 30:02d}T{i % 24:02d}:00:00"
        lines.append(json.dumps({"user": {"name": f"u{i % 5}"}, "t": t, "a": "sign-in" if i % 2 else "read"}))
    lines[40] = lines[40] + "\r" + lines[41]  # two records, one line break apart in text mode
    lines[90] = "{not json"
    body = ("\n".join(lines) + "\n").encode().replace(b'"u3"', b'"u\xff3"', 1)  # a non-UTF-8 byte
    (src / "b.jsonl").write_bytes(body)
    (src / "d.csv").write_bytes(b"")
    times = [f"2024-03-05 10:{i % 60:02d}:00" if i % 23 else "bad" for i in range(150)]
    table = pa.table({"u": [f"p{i % 4}" for i in range(150)], "t": times, "a": ["open"] * 150})
    pq.write_table(table, src / "c.parquet", row_group_size=40)
    mapping = "user=u,time=t,action=a"
    jmap = "user=user.name,time=t,action=a"
    reader = PiecewiseReader(in_process, CHUNK)
    for fmt, files, m in (
        ("csv", ["a.csv", "d.csv"], mapping),
        ("jsonl", ["b.jsonl"], jmap),
        ("parquet", ["c.parquet"], mapping),
    ):
        case = tmp_path / fmt
        case.mkdir()
        for f in files:
            (case / f).write_bytes((src / f).read_bytes())
        ingest(case, tmp_path / f"{fmt}-local", fmt=fmt, mapping=m)
        ingest(case, tmp_path / f"{fmt}-pieces", fmt=fmt, mapping=m, reader=reader)
        _same_work(tmp_path / f"{fmt}-local", tmp_path / f"{fmt}-pieces")
    assert len(parquet_chunks(src / "c.parquet", CHUNK)) >= 3
    assert len(cut_points(src / "b.jsonl", CHUNK)) > 10
    ids = pl.read_parquet(tmp_path / "jsonl-pieces" / "events.parquet")["event_id"].to_list()
    assert "b.jsonl:220" in ids and "b.jsonl:221" in ids  # 220 records + the split one
    assert set(_quarantined(tmp_path / "jsonl-pieces", "b.jsonl")) >= {92}  # line 91 + 1 for the CR


def test_line_breaks_and_ranges(tmp_path: Path) -> None:
    p = tmp_path / "x"
    p.write_bytes(b"ab\r\ncd\ref\n\ngh")
    assert count_breaks(p, 0, p.stat().st_size) == 3
    assert count_breaks(p, 0, p.stat().st_size, universal=True) == 4
    assert cut_points(p, 1) == [(0, 4), (4, 10), (10, 11), (11, 13)]
    r = RangeReader(p, [(0, 4), (10, 13)])
    assert r.read() == b"ab\r\n\ngh" and r.tell() == 3
