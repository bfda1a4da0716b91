"""Malformed input never crashes a run and is never silently dropped (hand-written fake rows)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import polars as pl
import pytest

from neighborwatch.data.cert import ReleaseError
from neighborwatch.data.csvstream import stream_csv
from neighborwatch.data.prepare import ingest
from neighborwatch.data.quarantine import Quarantine

# invented rows in the r4 layout (ids, users and PCs are made up)
LOGON = """id,date,user,pc,activity
{A0A0-B0BB00CC-0000DDDD},03/01/2011 08:00:00,ZZZ0001,PC-0001,Logon
{A0A0-B0BB00CC-0001DDDD},03/01/2011 08:05:00,ZZZ0002,PC-0002,Logon
{A0A0-B0BB00CC-0002DDDD},03/01/2011 09:00:00,ZZZ0001,PC-0001
{A0A0-B0BB00CC-0003DDDD},13/45/2011 09:10:00,ZZZ0001,PC-0001,Logoff
{A0A0-B0BB00CC-0004DDDD},03/01/2011 09:20:00,ZZZ0002,PC-0002,Teleport
{A0A0-B0BB00CC-0005DDDD},03/01/2011 09:30:00,ZZZ0002,PC-0002,Logoff,extra
{A0A0-B0BB00CC-0006DDDD},03/01/2011 17:00:00,ZZZ0001,PC-0001,Logoff
{A0A0-B0BB00CC-0007DDDD},03/01/20"""
DEVICE = """id,date,user,pc,activity
{B0A0-B0BB00CC-0000DDDD},03/01/2011 10:00:00,ZZZ0001,PC-0001,Connect
{B0A0-B0BB00CC-0001DDDD},03/01/2011 10:30:00,ZZZ0001,PC-0001,Disconnect
"""
HTTP = """id,date,user,pc,url,content
{C0A0-B0BB00CC-0000DDDD},03/01/2011 08:10:00,ZZZ0001,PC-0001,http://example.org/a/b.htm,kw one two
{C0A0-B0BB00CC-0001DDDD},03/01/2011 08:11:00,ZZZ0002,PC-0002,http://example.net/c.htm,A Label,kw three
{C0A0-B0BB00CC-0002DDDD},03/01/2011 08:12:00,ZZZ0002,PC-0002,,kw four
"""
EMAIL = """id,date,user,pc,to,cc,bcc,from,size,attachments,content
{D0A0-B0BB00CC-0000DDDD},03/01/2011 08:20:00,ZZZ0001,PC-0001,a.b.c@dtaa.com;x@elsewhere.com,,y@other.org,z.z.z@dtaa.com,1234,2,kw
{D0A0-B0BB00CC-0001DDDD},03/01/2011 08:21:00,ZZZ0001,PC-0001,a.b.c@dtaa.com,,,z.z.z@dtaa.com,lots,0,kw
"""
# expected quarantine of LOGON: (line, reason prefix)
LOGON_BAD = {
    4: "wrong column count",  # activity missing
    5: "bad date",
    6: "unknown activity",
    7: "wrong column count",  # one field too many (logon has no free-text column)
    9: "wrong column count",  # truncated last line
}


def _fake_release(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "logon.csv").write_text(LOGON)
    (root / "device.csv").write_text(DEVICE)
    (root / "http.csv").write_text(HTTP)
    (root / "email.csv").write_text(EMAIL)
    (root / "file.csv").write_text("")  # empty file
    return root


def _quarantine(work: Path) -> list[dict[str, str]]:
    with (work / "quarantine.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_bad_rows_are_quarantined_with_file_and_line(tmp_path: Path) -> None:
    src = _fake_release(tmp_path / "cert")
    work = tmp_path / "work"
    summary = ingest(src, work)
    q = _quarantine(work)
    logon = {int(r["line"]): r for r in q if r["file"] == "logon.csv"}
    assert set(logon) == set(LOGON_BAD)
    for line, reason in LOGON_BAD.items():
        assert logon[line]["reason"].startswith(reason)
    assert "13/45/2011" in logon[5]["raw"] and "Teleport" in logon[6]["raw"]
    # nothing lost: every data line is an event or a quarantined row
    events = pl.read_parquet(work / "events.parquet")
    assert events.filter(pl.col("source") == "logon").height + len(LOGON_BAD) == len(LOGON.splitlines()) - 1
    assert summary["sources"]["logon"]["quarantined"] == len(LOGON_BAD)
    assert summary["quarantined"]["per_file"]["logon.csv"] == len(LOGON_BAD)
    # http: a row with an extra field before content is kept (the r5+ answer label column);
    # an empty url is quarantined
    http = events.filter(pl.col("source") == "http")
    assert sorted(http["domain"]) == ["example.net", "example.org"]
    assert summary["sources"]["http"]["rescued_extra_fields"] == 1
    assert [(r["line"], r["reason"]) for r in q if r["file"] == "http.csv"] == [("4", "missing url")]
    # email: bad size quarantined, derived details on the good row
    mail = events.filter(pl.col("source") == "email").row(0, named=True)
    assert (mail["recipients"], mail["external_recipients"], mail["attachments"]) == (3, 2, 2)
    assert [r["line"] for r in q if r["file"] == "email.csv"] == ["3"]
    # the empty file: a clear message, counted, not a crash
    assert summary["empty_sources"] == ["file"]
    assert any("file.csv is empty" in w for w in summary["warnings"])
    assert summary["quarantined"]["per_file"]["file.csv"] == 1
    assert summary["quarantined"]["rows"] == len(q)
    assert events.equals(events.sort(["time", "event_id"]))


def test_missing_log_is_a_warning_and_nothing_is_an_error(tmp_path: Path) -> None:
    src = _fake_release(tmp_path / "cert")
    (src / "device.csv").unlink()
    summary = ingest(src, tmp_path / "w1")
    assert summary["missing_sources"] == ["device"]
    assert any("device.csv is missing" in w for w in summary["warnings"])
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(ReleaseError, match="logon.csv"):
        ingest(empty, tmp_path / "w2")
    with pytest.raises(FileNotFoundError, match="no-such-folder"):
        ingest(tmp_path / "no-such-folder", tmp_path / "w3")
    with pytest.raises(ValueError, match="--format"):
        ingest(src / "logon.csv", tmp_path / "w4")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_unreadable_folder_is_named(tmp_path: Path) -> None:
    src = _fake_release(tmp_path / "cert")
    src.chmod(0)
    try:
        with pytest.raises(PermissionError, match="cert"):
            ingest(src, tmp_path / "w")
    finally:
        src.chmod(0o755)


def test_unknown_header_is_a_clear_error(tmp_path: Path) -> None:
    src = _fake_release(tmp_path / "cert")
    (src / "device.csv").write_text("id,when,who,where,what\n")
    with pytest.raises(ReleaseError, match="device.csv: unknown device header"):
        ingest(src, tmp_path / "w")


def test_mixed_releases_are_refused(tmp_path: Path) -> None:
    src = _fake_release(tmp_path / "cert")
    (src / "http.csv").write_text("id,date,user,pc,url,activity,content\n")  # r6 http beside r4 email
    with pytest.raises(ReleaseError, match="mixes releases"):
        ingest(src, tmp_path / "w")


def test_line_numbers_survive_many_batches(tmp_path: Path) -> None:
    """Valid-row line numbers are reconstructed across tiny blocks and scattered bad lines."""
    path = tmp_path / "x.csv"
    lines = ["a,b,c"]
    bad_lines = set()
    for i in range(2, 3000):
        if i % 97 == 0:
            lines.append(f"{i},only-two")
            bad_lines.add(i)
        elif i % 101 == 0:
            lines.append("")  # blank line
            bad_lines.add(i)
        else:
            lines.append(f"{i},x,y")
    path.write_text("\n".join(lines) + "\n")
    q = Quarantine(tmp_path / "q.csv")
    seen = {}
    for batch in stream_csv(path, ["a", "b"], q, "x.csv", block_size=4096):
        for a, line in zip(batch.df["a"].to_list(), batch.lines.tolist()):
            seen[line] = a
    q.close()
    assert all(int(a) == line for line, a in seen.items())
    assert set(seen) | bad_lines == set(range(2, 3000)) and not set(seen) & bad_lines
    assert q.total == len(bad_lines)


def test_own_logs_bad_rows(tmp_path: Path) -> None:
    src = tmp_path / "own"
    src.mkdir()
    (src / "a.jsonl").write_text(
        '{"who": "u1", "at": "2024-05-01T08:00:00", "what": "Logon"}\n'
        '{"who": "u1", "at": "2024-05-01T08:0\n'  # truncated json
        '{"who": "u1", "at": "yesterday", "what": "Logon"}\n'
        '[1, 2]\n'
        '{"who": "", "at": "2024-05-01T09:00:00", "what": "Logoff"}\n'
        '{"who": "u2", "at": "2024-05-01T09:30:00"}\n'
        '{"who": "u2", "at": "2024-05-01T10:00:00", "what": "print"}\n'
    )
    (src / "b.jsonl").write_text("")
    summary = ingest(src, tmp_path / "w", fmt="jsonl", mapping="user=who,time=at,action=what")
    q = _quarantine(tmp_path / "w")
    got = {(r["file"], int(r["line"])): r["reason"] for r in q}
    assert set(got) == {("a.jsonl", 2), ("a.jsonl", 3), ("a.jsonl", 4), ("a.jsonl", 5), ("a.jsonl", 6), ("b.jsonl", 0)}
    assert got[("a.jsonl", 2)].startswith("bad json") and got[("a.jsonl", 3)].startswith("bad time")
    assert got[("a.jsonl", 5)] == "missing user" and got[("a.jsonl", 6)] == "missing action"
    assert got[("b.jsonl", 0)] == "empty file"
    assert summary["events"] == 2 and summary["quarantined"]["rows"] == 6


def test_crlf_line_endings_and_bom_are_not_errors(tmp_path: Path) -> None:
    src = tmp_path / "cert"
    src.mkdir()
    body = LOGON.splitlines()[:3]
    (src / "logon.csv").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(body).encode() + b"\r\n")
    summary = ingest(src, tmp_path / "w")
    assert summary["events"] == 2 and summary["quarantined"]["rows"] == 0
    assert set(pl.read_parquet(tmp_path / "w" / "events.parquet")["action"]) == {"Logon"}
