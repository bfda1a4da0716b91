"""Malformed input never crashes a run and is never silently dropped (hand-written fake rows)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neighborwatch.data.cert import ReleaseError
from neighborwatch.data.csvstream import read_small_csv, stream_csv
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
        "[1, 2]\n"
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


# --- one broken record costs that record only (property-based) ---------------------------------

CORRUPTIONS: dict[str, bytes] = {
    "latin-1 byte": b"\xe9t\xe9,03/01/2011 08:00:00,ZZZ0009,PC-0009,Logon",
    "binary line": b"\x00\x9f\x92\x10\xff\xfe garbage \x07",
    "unterminated quote": b'{X},"03/01/2011 08:00:00,ZZZ0009,PC-0009,Logon',
    "oversized line": b"{Y},03/01/2011 08:00:00,ZZZ0009,PC-0009," + b"L" * 3000,
    "lone carriage return": b"{Z},03/01/2011\r08:00:00,ZZZ0009,PC-0009,Logon",
    "too few fields": b"{W},03/01/2011 08:00:00",
    "blank": b"",
}


def _good_row(i: int) -> bytes:
    return f"{{E{i:05d}}},03/01/2011 08:{i % 60:02d}:00,ZZZ{i % 7:04d},PC-{i % 5:04d},Logon".encode()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n_rows=st.integers(1, 300),
    hits=st.lists(st.tuples(st.integers(0, 299), st.sampled_from(sorted(CORRUPTIONS))), max_size=12),
    crlf=st.booleans(),
    final_newline=st.booleans(),
)
def test_random_corruptions_cost_only_their_lines(tmp_path: Path, n_rows, hits, crlf, final_newline) -> None:
    """rows in the file = rows read + rows quarantined, every good row comes back at its line."""
    rows = [_good_row(i) for i in range(n_rows)]
    broken: dict[int, str] = {}
    for index, kind in hits:
        if index < n_rows:
            rows[index] = CORRUPTIONS[kind]
            broken[index + 2] = kind  # physical line (1 = header)
    eol = b"\r\n" if crlf else b"\n"
    body = eol.join([b"id,date,user,pc,activity", *rows]) + (eol if final_newline else b"")
    if not final_newline and rows[-1] == b"":  # "...\n" + nothing: no last line at all
        n_rows -= 1
        broken.pop(n_rows + 2, None)
    path = tmp_path / "logon.csv"
    path.write_bytes(body)
    q = Quarantine(tmp_path / "q.csv")
    got: dict[int, str] = {}
    for batch in stream_csv(path, ["id", "user"], q, "logon.csv", block_size=1024, max_line_bytes=400):
        for line, event_id in zip(batch.lines.tolist(), batch.df["id"].to_list()):
            assert line not in got
            got[line] = event_id
    q.close()
    quarantined = {int(r["line"]): r for r in csv.DictReader((tmp_path / "q.csv").open(newline=""))}
    assert len(got) + q.total == n_rows and len(quarantined) == q.total
    assert set(got) | set(quarantined) == set(range(2, n_rows + 2)) and not set(got) & set(quarantined)
    assert set(quarantined) == set(broken)
    for line, event_id in got.items():
        assert event_id == _good_row(line - 2).split(b",")[0].decode()
    for r in quarantined.values():
        assert r["file"] == "logon.csv" and len(r["raw"]) <= 2000
        assert not any(ord(ch) < 32 and ch != "\t" for ch in r["raw"])  # raw bytes escaped


def test_one_latin1_byte_costs_one_row_through_ingest(tmp_path: Path) -> None:
    src = _fake_release(tmp_path / "cert")
    good = DEVICE.splitlines()[1:]
    rows = [r.replace("B0A0", f"B{i:03d}") for i in range(200) for r in good][:400]
    rows[250] = rows[250].replace("ZZZ0001", "ZZZ\xe90001")
    (src / "device.csv").write_bytes(("\n".join([DEVICE.splitlines()[0], *rows]) + "\n").encode("latin-1"))
    summary = ingest(src, tmp_path / "w")
    q = [r for r in _quarantine(tmp_path / "w") if r["file"] == "device.csv"]
    assert [(r["line"], r["reason"]) for r in q] == [("252", "not UTF-8 (byte 0xe9)")]
    assert "ZZZ\\xe90001" in q[0]["raw"]
    assert summary["sources"]["device"]["quarantined"] == 1
    events = pl.read_parquet(tmp_path / "w" / "events.parquet").filter(pl.col("source") == "device")
    assert events.height == 399


def test_small_csv_bad_lines_cost_one_row_each(tmp_path: Path) -> None:
    """LDAP-style files: the same line rules (an unterminated quote must not swallow the rest)."""
    path = tmp_path / "2010-01.csv"
    path.write_bytes(
        b"\xef\xbb\xbfemployee_name,user_id,email\r\nA B,AB1,a@x\r\n\x00\x01\xff junk\n"
        b'"C D,CD1,c@x\nE F,EF1,e@x\n"G, H",GH1,g@x\n\xe9t\xe9,X,y\nI J,IJ1\n'
    )
    q = Quarantine(tmp_path / "q.csv")
    df = read_small_csv(path, q, "ldap.csv")
    q.close()
    assert df["user_id"].to_list() == ["AB1", "EF1", "GH1"] and df.columns == ["employee_name", "user_id", "email"]
    got = {int(r["line"]): r["reason"] for r in csv.DictReader((tmp_path / "q.csv").open(newline=""))}
    assert got == {
        3: "not UTF-8 (byte 0xff)",
        4: "unterminated quote",
        7: "not UTF-8 (byte 0xe9)",
        8: "wrong column count (expected 3, got 2)",
    }
