"""CERT loader on the real sample rows in ../shared/cert-samples (skipped where absent)."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest

from neighborwatch.data.cert import ACTIONS, ReleaseError, detect_release
from neighborwatch.data.labels import row_labels
from neighborwatch.data.prepare import ingest
from neighborwatch.data.schema import EVENT_SCHEMA, SOURCES
from neighborwatch.workdir import WorkDir


def _data_rows(path: Path) -> int:
    with path.open(newline="") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


def _records(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def r42_work(cert_samples: Path, tmp_path_factory: pytest.TempPathFactory) -> WorkDir:
    out = tmp_path_factory.mktemp("r42")
    ingest(cert_samples / "r4.2", out)
    return WorkDir(out)


@pytest.fixture(scope="module")
def r62_work(cert_samples: Path, tmp_path_factory: pytest.TempPathFactory) -> WorkDir:
    out = tmp_path_factory.mktemp("r62")
    ingest(cert_samples / "r6.2", out)
    return WorkDir(out)


def test_release_detected_from_headers(cert_samples: Path) -> None:
    assert detect_release(cert_samples / "r4.2").release == "r4"
    assert detect_release(cert_samples / "r6.2").release == "r6"
    with pytest.raises(ReleaseError, match="logon.csv"):
        detect_release(cert_samples / "r5.2")  # only LDAP/psychometric/answers there


def test_r5_detected_from_headers(cert_samples: Path, tmp_path: Path) -> None:
    """r5 = device with file_tree + http without activity; built from the real r6.2/r4.2 headers."""
    for source, donor in (("device", "r6.2"), ("http", "r4.2"), ("email", "r6.2")):
        header = (cert_samples / donor / f"{source}.csv").open().readline()
        (tmp_path / f"{source}.csv").write_text(header)
    assert detect_release(tmp_path).release == "r5"


def test_r42_heads_parse_with_row_counts(cert_samples: Path, r42_work: WorkDir) -> None:
    summary = r42_work.read_summary()
    assert summary["release"] == "r4" and summary["dataset"] == "4.2"
    events = pl.read_parquet(r42_work.events)
    assert events.schema == pl.Schema(EVENT_SCHEMA)
    for source in SOURCES:
        expected = _data_rows(cert_samples / "r4.2" / f"{source}.csv")
        assert summary["events_per_source"][source] == expected
        assert summary["sources"][source]["rows"] == expected
    assert summary["quarantined"]["rows"] == 0
    assert events.equals(events.sort(["time", "event_id"]))
    # r4 has no activity column in file/email/http: the canonical defaults are used
    assert set(events.filter(pl.col("source") == "file")["action"]) == {"File Open"}
    assert set(events.filter(pl.col("source") == "email")["action"]) == {"Send"}
    assert set(events.filter(pl.col("source") == "http")["action"]) == {"WWW Visit"}
    assert events.filter(pl.col("source") == "file")["to_removable"].null_count() == 2500


def test_r42_email_details_match_raw(cert_samples: Path, r42_work: WorkDir) -> None:
    raw = {r["id"]: r for r in _records(cert_samples / "r4.2" / "email.csv")}
    events = pl.read_parquet(r42_work.events).filter(pl.col("source") == "email")
    for ev in events.iter_rows(named=True):
        r = raw[ev["event_id"]]
        addrs = [a for f in ("to", "cc", "bcc") for a in r[f].split(";") if a]
        assert ev["recipients"] == len(addrs)
        outside = [a.lower() for a in addrs if not a.lower().endswith("@dtaa.com")]
        assert ev["external_recipients"] == len(outside)
        assert (ev["external_addresses"] or "").split(";") == (outside or [""])
        sender = r["from"].lower()
        assert ev["external_sender"] == (None if sender.endswith("@dtaa.com") else sender)
        assert ev["attachments"] == int(r["attachments"])
        assert ev["size"] == int(r["size"])


def test_r42_organisation(cert_samples: Path, r42_work: WorkDir) -> None:
    users = pl.read_parquet(r42_work.users)
    ldap = cert_samples / "r4.2" / "LDAP"
    first = {r["user_id"] for r in _records(ldap / "2009-12.csv")}
    last = {r["user_id"] for r in _records(ldap / "2011-05.csv")}
    assert users.height == len(first | last)
    left = set(users.filter(pl.col("left").is_not_null())["user"])
    assert left == first - last
    one = sorted(first - last)[0]
    months = sorted(p.stem for p in ldap.glob("*.csv") if one in {r["user_id"] for r in _records(p)})
    row = users.filter(pl.col("user") == one).row(0, named=True)
    assert row["last_month"] == months[-1]
    assert str(row["left"])[:7] > months[-1]
    assert users["O"].null_count() == 0  # psychometric joined for every user


def test_r62_samples_parse(cert_samples: Path, r62_work: WorkDir) -> None:
    summary = r62_work.read_summary()
    assert summary["release"] == "r6" and summary["dataset"] == "6.2"
    events = pl.read_parquet(r62_work.events)
    for source in SOURCES:
        assert summary["events_per_source"][source] == _data_rows(cert_samples / "r6.2" / f"{source}.csv")
        acts = set(events.filter(pl.col("source") == source)["action"])
        assert acts <= set(ACTIONS[source])
    # the samples are shuffled; the output is still sorted
    assert events.equals(events.sort(["time", "event_id"]))
    assert {"WWW Upload", "WWW Download"} <= set(events["action"])
    raw = {r["id"]: r for r in _records(cert_samples / "r6.2" / "file.csv")}
    files = events.filter(pl.col("source") == "file")
    for ev in files.iter_rows(named=True):
        assert ev["to_removable"] == (raw[ev["event_id"]]["to_removable_media"] == "True")
        assert ev["from_removable"] == (raw[ev["event_id"]]["from_removable_media"] == "True")
    raw_mail = {r["id"]: r for r in _records(cert_samples / "r6.2" / "email.csv")}
    for ev in events.filter(pl.col("source") == "email").iter_rows(named=True):
        att = raw_mail[ev["event_id"]]["attachments"]
        assert ev["attachments"] == (len(att.split(";")) if att else 0)
    # the corrupt /21/2011 start in insiders.csv was repaired from the answer file
    repaired = summary["labels"]["repaired_insider_dates"]
    assert [r["used"] for r in repaired] == ["2011-02-21 11:43:39"]
    assert "content" not in pl.read_parquet_schema(r62_work.events)


def test_keep_content_adds_a_column(cert_samples: Path, tmp_path: Path) -> None:
    ingest(cert_samples / "r6.2", tmp_path, keep_content=True)
    events = pl.read_parquet(tmp_path / "events.parquet")
    assert events.columns == [*EVENT_SCHEMA, "content"]
    http = events.filter(pl.col("source") == "http")
    assert http["content"].str.len_chars().min() > 0
    assert events.filter(pl.col("source") == "logon")["content"].null_count() == 500


def _tree_with_logs(cert_samples: Path, tmp_path: Path, release: str) -> Path:
    """A temp release folder: symlinks to the real sample logs (no rows copied)."""
    root = tmp_path / release
    root.mkdir()
    for item in (cert_samples / release).iterdir():
        if item.name != "answers":
            (root / item.name).symlink_to(item)
    return root


def test_labels_join_on_id_and_absent_ids_are_reported(cert_samples: Path, tmp_path: Path) -> None:
    """Real r4.2 answers + an extra answer file (written at run time from ids of the sample logs)."""
    root = _tree_with_logs(cert_samples, tmp_path, "r4.2")
    answers = root / "answers"
    answers.mkdir()
    real = cert_samples / "r4.2" / "answers"
    for name in ("r4.2-1", "r4.2-2", "r4.2-3", "readme.txt", "scenarios.txt"):
        (answers / name).symlink_to(real / name)
    logon = _records(cert_samples / "r4.2" / "logon.csv")
    picked = [r for r in logon if r["user"] == logon[0]["user"]][:3]
    user = picked[0]["user"]
    fake = answers / "r4.2-1" / f"r4.2-1-{user}.csv"
    (answers / "r4.2-1").unlink()
    (answers / "r4.2-1").mkdir()
    for f in (real / "r4.2-1").iterdir():
        (answers / "r4.2-1" / f.name).symlink_to(f)
    fake.write_text("".join(f"logon,{r['id']},{r['date']},{r['user']},{r['pc']},{r['activity']}\n" for r in picked))
    insiders = (real / "insiders.csv").read_text()
    (answers / "insiders.csv").write_text(
        insiders + f"4.2,1,{fake.name},{user},{picked[0]['date']},{picked[-1]['date']}\n"
    )

    out = tmp_path / "work"
    summary = ingest(root, out)
    labels = pl.read_parquet(out / "labels.parquet")
    assert sorted(labels["event_id"]) == sorted(r["id"] for r in picked)
    assert set(labels["scenario"]) == {1} and set(labels["insider"]) == {user}
    assert summary["labels"]["malicious_per_scenario"] == {"1": 3}
    real_rows = sum(_data_rows_noheader(p) for p in real.rglob("r4.2-*.csv"))
    assert summary["labels"]["not_in_logs"] == real_rows
    missing = pl.read_csv(out / "labels_missing.csv")
    assert missing.height == real_rows
    malicious, scenario = row_labels(out)
    events = pl.read_parquet(out / "events.parquet", columns=["event_id"])
    assert sorted(events.filter(pl.Series(malicious))["event_id"]) == sorted(r["id"] for r in picked)
    assert set(scenario[malicious]) == {1}


def _data_rows_noheader(path: Path) -> int:
    with path.open(newline="") as fh:
        return sum(1 for row in csv.reader(fh) if row)
