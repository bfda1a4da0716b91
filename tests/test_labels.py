"""Labels from the real CERT answer keys (../shared/cert-samples/*/answers; skipped where absent)."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest

from neighborwatch.data.answers import (
    find_answer_files,
    labels_from_answers,
    load_answers,
    parse_time,
    read_insiders,
)
from neighborwatch.data.quarantine import Quarantine

# FORMATS.md §3.2 "Observed composition by event type" (facts of the real answer keys)
COMPOSITION = {
    "r4.2-1": {"logon": 138, "device": 138, "http": 69},
    "r4.2-2": {"device": 2607, "email": 420, "http": 3738},
    "r4.2-3": {"logon": 60, "device": 40, "email": 50, "file": 10, "http": 53},
    "r5.2-1": {"logon": 130, "device": 130, "file": 161, "http": 65},
    "r5.2-2": {"device": 2282, "email": 402, "http": 3793},
    "r5.2-3": {"logon": 40, "device": 40, "email": 46, "file": 20, "http": 38},
    "r5.2-4": {"logon": 678, "email": 678, "file": 1825},
}
INSIDERS = {"r4.2": (70, {1: 30, 2: 30, 3: 10}), "r5.2": (99, {1: 29, 2: 30, 3: 10, 4: 30})}


def _load(cert_samples: Path, release: str, tmp_path: Path) -> tuple[pl.DataFrame, dict, Quarantine]:
    q = Quarantine(tmp_path / "q.csv")
    rows, info = load_answers(cert_samples / release / "answers", f"r{release[1]}", q)
    q.close()
    return rows, info, q


@pytest.mark.parametrize("release", ["r4.2", "r5.2"])
def test_every_answer_file_parses_with_scenario_and_insider(cert_samples: Path, tmp_path: Path, release: str) -> None:
    rows, info, q = _load(cert_samples, release, tmp_path)
    n_files, per_scenario = INSIDERS[release]
    assert info["files"] == n_files and len(info["insiders"]) == n_files
    assert q.total == 0 and not info["files_not_in_insiders_csv"]
    got = {}
    for s in per_scenario:
        got[s] = len({i["insider"] for i in info["insiders"] if i["scenario"] == s})
    assert got == per_scenario
    # every row of every file is there, per answer set and type
    comp = rows.with_columns(folder=pl.col("file").str.extract(r"(r\d\.\d-\d)")).group_by("folder", "type").len()
    observed = {(f, t): n for f, t, n in comp.iter_rows()}
    expected = {(f, t): n for f, c in COMPOSITION.items() if f.startswith(release) for t, n in c.items()}
    assert observed == expected
    # scenario and insider come from the file, not from the row
    for f in find_answer_files(cert_samples / release / "answers"):
        sub = rows.filter(pl.col("file").str.ends_with("/" + f.path.name))
        assert set(sub["scenario"]) == {f.scenario} and set(sub["insider"]) == {f.insider}
    labels, dups = labels_from_answers(rows)
    assert labels["malicious"].all() and labels["event_id"].n_unique() == labels.height
    assert labels.height + dups == rows.height
    # insiders.csv windows equal the min/max of each file (FORMATS.md §3.1, 169/169)
    for ins in info["insiders"]:
        sub = rows.filter(pl.col("file").str.ends_with("/" + ins["file"]))
        assert ins["start"] == str(sub["time"].min()) and ins["end"] == str(sub["time"].max())


def test_r52_file_rows_with_and_without_label_column(cert_samples: Path, tmp_path: Path) -> None:
    widths: dict[str, set[int]] = {}
    for path in (cert_samples / "r5.2" / "answers").glob("r5.2-*/*.csv"):
        with path.open(newline="") as fh:
            widths.setdefault(path.parent.name, set()).update(len(r) for r in csv.reader(fh) if r and r[0] == "file")
    assert widths["r5.2-4"] == {10} and widths["r5.2-1"] == {11}  # the quirk is in the data ...
    rows, _, _ = _load(cert_samples, "r5.2", tmp_path)
    file_rows = rows.filter(pl.col("type") == "file")
    assert file_rows.height == 161 + 20 + 1825  # ... and rows of both widths became label rows
    assert file_rows["event_id"].str.contains(r"^\{[A-Z]\d[A-Z]\d-[A-Z]\d[A-Z]{2}\d{2}[A-Z]{2}-\d{4}[A-Z]{4}\}$").all()


def test_rows_of_other_users_keep_the_file_insider(cert_samples: Path, tmp_path: Path) -> None:
    rows, info, _ = _load(cert_samples, "r4.2", tmp_path)
    csc = rows.filter(pl.col("file").str.ends_with("r4.2-3-CSC0217.csv"))
    assert {"CSC0217", "FAW0032"} == set(csc["user"])
    faw = csc.filter(pl.col("user") == "FAW0032")
    assert faw.height > 0 and set(faw["insider"]) == {"CSC0217"} and set(faw["scenario"]) == {3}
    assert info["rows_of_other_users"] == rows.filter(pl.col("user") != pl.col("insider")).height > 0
    # r5.2: a scenario-4 file holding one row of another scenario-4 insider; the id is labelled once
    rows5, _, _ = _load(cert_samples, "r5.2", tmp_path)
    foreign = rows5.filter(pl.col("file").str.ends_with("r5.2-4-CBW1826.csv") & (pl.col("user") == "DIM0330"))
    assert foreign.height == 1
    labels, dups = labels_from_answers(rows5)
    assert dups >= 1
    lab = labels.filter(pl.col("event_id") == foreign["event_id"][0])
    assert lab.height == 1 and lab["insider"][0] in {"DIM0330", "CBW1826"} and lab["scenario"][0] == 4


def test_insiders_csv_quirks(cert_samples: Path, tmp_path: Path) -> None:
    q = Quarantine(tmp_path / "q.csv")
    ins = read_insiders(cert_samples / "r6.2" / "answers", q)
    q.close()
    assert ins["dataset"].dtype == pl.Utf8 and {"2", "4.2", "5.2", "6.2"} <= set(ins["dataset"])
    broken = ins.filter(pl.col("start_raw").str.starts_with("/"))
    assert broken.height == 1 and broken["start"][0] is None  # the corrupt /21/2011 ...
    unpadded = ins.filter(pl.col("start_raw").str.contains(r"^\d/"))
    assert unpadded.height > 0 and unpadded["start"].null_count() == 0  # ... unpadded dates parse
    assert parse_time("3/6/2010 1:41:56") == parse_time("03/06/2010 01:41:56")
    rows, info, _ = _load(cert_samples, "r6.2", tmp_path)
    assert info["datasets"] == ["6.2"]  # insiders.csv filtered to the detected dataset
    assert len(info["insiders"]) == 5
    fixed = info["repaired_insider_dates"]
    first = rows.filter(pl.col("file").str.ends_with("r6.2-4.csv"))["time"][0]
    assert [(f["file"], f["used"]) for f in fixed] == [("r6.2-4.csv", str(first))]
    # r6 quoting: ids come out without quotes
    assert rows["event_id"].str.starts_with("{").all()
    # r6.2-3 holds rows of many users; they are all malicious with the file's insider
    s3 = rows.filter(pl.col("file").str.ends_with("r6.2-3.csv"))
    assert s3["user"].n_unique() > 10 and s3["insider"].n_unique() == 1


def test_several_answer_sets_pick_the_one_matching_the_logs(tmp_path: Path) -> None:
    """Hand-written: answers/ with an r4.1 flat file and an r4.2 folder; the logs hold r4.2 ids."""
    from neighborwatch.data.prepare import ingest

    src = tmp_path / "mylogs"
    (src / "answers" / "r4.2-2").mkdir(parents=True)
    (src / "logon.csv").write_text(
        "id,date,user,pc,activity\n"
        "{Q1Q1-Q1QQ11QQ-1111QQQQ},05/02/2010 08:00:00,QQQ0001,PC-0101,Logon\n"
        "{Q1Q1-Q1QQ11QQ-2222QQQQ},05/02/2010 18:00:00,QQQ0001,PC-0101,Logoff\n"
    )
    (src / "answers" / "r4.1-1.csv").write_text(
        "logon,{W9W9-W9WW99WW-9999WWWW},05/03/2010 01:00:00,WWW0002,PC-0202,Logon\nbogus,row\n"
    )
    (src / "answers" / "r4.2-2" / "r4.2-2-QQQ0001.csv").write_text(
        "logon,{Q1Q1-Q1QQ11QQ-2222QQQQ},05/02/2010 18:00:00,QQQ0001,PC-0101,Logoff\n"
    )
    (src / "answers" / "insiders.csv").write_text(
        "dataset,scenario,details,user,start,end\n"
        "4.1,1,r4.1-1.csv,WWW0002,5/3/2010 1:00:00,5/3/2010 1:00:00\n"
        "4.2,2,r4.2-2-QQQ0001.csv,QQQ0001,05/02/2010 18:00:00,05/02/2010 18:00:00\n"
    )
    summary = ingest(src, tmp_path / "w")
    assert summary["dataset"] == "4.2"
    labels = pl.read_parquet(tmp_path / "w" / "labels.parquet")
    assert labels.to_dicts() == [
        {"event_id": "{Q1Q1-Q1QQ11QQ-2222QQQQ}", "malicious": True, "scenario": 2, "insider": "QQQ0001"}
    ]
    assert summary["labels"]["not_in_logs"] == 0 and [i["insider"] for i in summary["insiders"]] == ["QQQ0001"]
    assert summary["quarantined"]["rows"] == 0  # the r4.1 file's bad row was only probed, not kept
