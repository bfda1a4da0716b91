"""Synthetic CERT organisation: formats per release, answers, determinism, LDAP, insiders."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from neighborwatch.data.synth import SCENARIOS, synthesize
from neighborwatch.data.synth.insiders import cut_day, plan_insiders
from neighborwatch.data.synth.organisation import build_org

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "cert-samples"
if not SAMPLES.exists():
    SAMPLES = Path("/work/shared/cert-samples")
LOGS = ("logon", "device", "file", "email", "http")
ID_RE = re.compile(r"^\{[A-Z]\d[A-Z]\d-[A-Z]\d[A-Z]{2}\d{2}[A-Z]{2}-\d{4}[A-Z]{4}\}$")
DATE_RE = re.compile(r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}$")
USER_RE = re.compile(r"^[A-Z]{3}\d{4}$")
PC_RE = re.compile(r"^PC-\d{4}$")
# Headers as documented in FORMATS.md (used when the real files are not on this machine).
R4 = {
    "logon": "id,date,user,pc,activity",
    "device": "id,date,user,pc,activity",
    "file": "id,date,user,pc,filename,content",
    "email": "id,date,user,pc,to,cc,bcc,from,size,attachments,content",
    "http": "id,date,user,pc,url,content",
}
R5 = dict(
    R4,
    device="id,date,user,pc,file_tree,activity",
    file="id,date,user,pc,filename,activity,to_removable_media,from_removable_media,content",
    email="id,date,user,pc,to,cc,bcc,from,activity,size,attachments,content",
)
R6 = dict(R5, http="id,date,user,pc,url,activity,content")
EXPECTED_HEADERS = {"r4.2": R4, "r5.2": R5, "r6.2": R6}
# fields per answer row, type column included (FORMATS.md §3.2, counted on the real files)
ANSWER_FIELDS = {
    "r4.2": {"logon": {6}, "device": {6}, "email": {12}, "file": {7}, "http": {7}},
    "r5.2": {"logon": {6}, "device": {7}, "email": {14}, "file": {10, 11}, "http": {8}},
    "r6.2": {"logon": {6}, "device": {7}, "email": {14}, "file": {11}, "http": {9}},
}
START, END = "2010-01-04", "2010-02-04"


def _run(tmp_path_factory: pytest.TempPathFactory, release: str, seed: int = 7) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp(f"synth_{release.replace('.', '')}_{seed}")
    manifest = synthesize(release, 20, START, END, seed, out)
    return out, manifest


@pytest.fixture(scope="module", params=["r4.2", "r5.2", "r6.2"])
def dataset(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, dict]:
    out, manifest = _run(tmp_path_factory, request.param)
    return request.param, out, manifest


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def _date(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%m/%d/%Y %H:%M:%S")


def _answer_files(out: Path) -> list[Path]:
    return sorted(p for p in (out / "answers").rglob("*.csv") if p.name != "insiders.csv")


def test_headers_match_the_release(dataset: tuple[str, Path, dict]) -> None:
    release, out, _ = dataset
    for log in LOGS:
        head = (out / f"{log}.csv").read_text().split("\n", 1)[0]
        assert head == EXPECTED_HEADERS[release][log], (release, log)
        real = SAMPLES / release / f"{log}.csv"
        if real.exists():
            assert head == real.read_text().split("\n", 1)[0].strip(), (release, log)
    ldap = sorted((out / "LDAP").glob("*.csv"))
    assert ldap
    real_ldap = sorted((SAMPLES / release / "LDAP").glob("*.csv")) if SAMPLES.exists() else []
    if real_ldap:
        assert ldap[0].read_text().split("\n", 1)[0] == real_ldap[0].read_text().split("\n", 1)[0].strip()
    assert ("projects" in ldap[0].read_text().split("\n", 1)[0]) == (release != "r4.2")
    psy = (out / "psychometric.csv").read_bytes()
    assert psy.startswith(
        b"employee_name,user_id,O,C,E,A,N\r\n" if release == "r6.2" else b"employee_name,user_id,O,C,E,A,N\n"
    )


def test_value_formats(dataset: tuple[str, Path, dict]) -> None:
    release, out, _ = dataset
    for log in LOGS:
        rows = _rows(out / f"{log}.csv")
        header = rows[0]
        assert len(rows) > 1, log
        for r in rows[1:]:
            assert len(r) == len(header), (log, r)
            assert ID_RE.match(r[0]) and DATE_RE.match(r[1]), r[:2]
            assert USER_RE.match(r[2]) and PC_RE.match(r[3]), r[2:4]
            rec = dict(zip(header, r))
            if log == "logon":
                assert rec["activity"] in ("Logon", "Logoff")
            elif log == "device":
                assert rec["activity"] in ("Connect", "Disconnect")
                if release != "r4.2":
                    assert (rec["file_tree"] == "") == (rec["activity"] == "Disconnect")
                    if rec["file_tree"]:
                        assert all(p.startswith("R:\\") for p in rec["file_tree"].split(";"))
            elif log == "file":
                assert re.search(r"\.(doc|pdf|zip|jpg|txt|exe)$", rec["filename"])
                assert re.match(r"^[0-9A-F]{2}(-[0-9A-F]{2})* ", rec["content"])
                if release == "r4.2":
                    assert "\\" not in rec["filename"]
                else:
                    assert rec["filename"][:3] in ("R:\\", "C:\\")
                    assert rec["to_removable_media"] in ("True", "False")
                    assert rec["from_removable_media"] in ("True", "False")
                    ok = {"File Open", "File Write"} | ({"File Copy", "File Delete"} if release == "r6.2" else set())
                    assert rec["activity"] in ok
            elif log == "email":
                assert rec["size"].isdigit()
                assert rec["to"] and "@" in rec["from"]
                if release == "r4.2":
                    assert rec["attachments"].isdigit()
                else:
                    assert rec["activity"] in (("Send", "Receive") if release == "r5.2" else ("Send", "View"))
                    assert rec["attachments"] == "" or re.match(
                        r"^[^;()]+\(\d+\)(;[^;()]+\(\d+\))*$", rec["attachments"]
                    )
            elif log == "http":
                assert re.match(r"^https?://[a-z0-9.-]+\.[a-z]+/", rec["url"])
                if release == "r6.2":
                    assert rec["activity"] in ("WWW Visit", "WWW Download", "WWW Upload")


def test_files_are_sorted_by_date(dataset: tuple[str, Path, dict]) -> None:
    _, out, manifest = dataset
    lo = dt.datetime.fromisoformat(manifest["start"])
    hi = dt.datetime.fromisoformat(manifest["end"])
    for log in LOGS:
        dates = [_date(r[1]) for r in _rows(out / f"{log}.csv")[1:]]
        assert dates == sorted(dates), log
        assert lo <= dates[0] and dates[-1] < hi


def test_answer_rows_are_log_rows(dataset: tuple[str, Path, dict]) -> None:
    release, out, manifest = dataset
    logs = {log: {r[0]: r for r in _rows(out / f"{log}.csv")[1:]} for log in LOGS}
    n = 0
    labels = Counter()
    for path in _answer_files(out):
        text = path.read_text()
        assert not text.startswith("logon,id") and text.endswith("\n")
        for row in _rows(path):
            kind, fields = row[0], row[1:]
            assert len(row) in ANSWER_FIELDS[release][kind], (path.name, row)
            log_row = logs[kind].get(fields[0])
            assert log_row is not None, f"answer id {fields[0]} not in {kind}.csv"
            if len(fields) == len(log_row) + 1:  # r5+: label column just before content
                labels[kind] += 1
                assert release != "r4.2"
                fields = fields[:-2] + fields[-1:]
            assert fields == log_row
            n += 1
    assert n == manifest["malicious_events"]
    if release != "r4.2":
        assert labels["http"] > 0 and labels["email"] > 0
        assert labels["email"] == sum(1 for p in _answer_files(out) for r in _rows(p) if r[0] == "email")


def test_insiders_csv_matches_answer_files(dataset: tuple[str, Path, dict]) -> None:
    release, out, manifest = dataset
    rows = _rows(out / "answers" / "insiders.csv")
    assert rows[0] == ["dataset", "scenario", "details", "user", "start", "end"]
    assert {r[0] for r in rows[1:]} == {release[1:]}
    assert {int(r[1]) for r in rows[1:]} == set(SCENARIOS[release])
    for ds, scen, details, user, start, end in rows[1:]:
        if release == "r6.2":
            path = out / "answers" / details
            assert details == f"r6.2-{scen}.csv"
        else:
            path = out / "answers" / details[:6] / details
            assert details == f"{release}-{scen}-{user}.csv"
        dates = [_date(r[2]) for r in _rows(path)]
        assert dates == sorted(dates)
        assert _date(start) == dates[0] and _date(end) == dates[-1]
        assert user in {r[3] for r in _rows(path)}
    assert len(manifest["insiders"]) == len(rows) - 1
    assert sum(manifest["malicious_events_per_scenario"].values()) == manifest["malicious_events"]


def test_manifest_counts_rows(dataset: tuple[str, Path, dict]) -> None:
    _, out, manifest = dataset
    on_disk = json.loads((out / "synth_manifest.json").read_text())
    assert on_disk == manifest
    for log in LOGS:
        assert manifest["rows"][log] == len(_rows(out / f"{log}.csv")) - 1
    assert manifest["total_events"] == sum(manifest["rows"].values())
    assert manifest["rows"]["http"] / manifest["total_events"] > 0.7  # http dominates, as in CERT


def test_ldap_leavers_disappear_and_stop_acting(dataset: tuple[str, Path, dict]) -> None:
    _, out, manifest = dataset
    snaps = sorted((out / "LDAP").glob("*.csv"))
    members = [{r[1] for r in _rows(p)[1:]} for p in snaps]
    for a, b in zip(members, members[1:]):
        assert b <= a  # no hires, only leavers
    gone = members[0] - members[-1]
    assert len(gone) == manifest["leavers"]
    last_seen: dict[str, dt.datetime] = {}
    for log in LOGS:
        for r in _rows(out / f"{log}.csv")[1:]:
            d = _date(r[1])
            if r[2] not in last_seen or d > last_seen[r[2]]:
                last_seen[r[2]] = d
    for p, m in zip(snaps, members):
        y, mo = map(int, p.stem.split("-"))
        month_end = dt.datetime(y + (mo == 12), mo % 12 + 1, 1)
        for u in members[0] - m:  # gone in this month: nothing after the month ends
            assert u not in last_seen or last_seen[u] < month_end, (u, p.name)


def test_scenario_coverage_and_normal_users_look_alike(dataset: tuple[str, Path, dict]) -> None:
    release, out, manifest = dataset
    assert {i["scenario"] for i in manifest["insiders"]} == set(SCENARIOS[release])
    insiders = {i["user"] for i in manifest["insiders"]}
    logons = _rows(out / "logon.csv")[1:]
    pcs: dict[str, Counter] = defaultdict(Counter)
    late = set()
    for r in logons:
        pcs[r[2]][r[3]] += 1
        h = _date(r[1]).hour
        if h < 6 or h >= 20:
            late.add(r[2])
    other_pc = {u for u, c in pcs.items() if len(c) > 1}
    device = {r[2] for r in _rows(out / "device.csv")[1:]}
    # some normal users also work late, use thumb drives and log on to other PCs
    assert late - insiders and device - insiders and other_pc - insiders


def test_same_seed_same_bytes_other_seed_differs(tmp_path_factory: pytest.TempPathFactory) -> None:
    def digest(out: Path) -> dict[str, str]:
        return {
            str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*"))
            if p.is_file()
        }

    def run(seed: int) -> Path:
        out = tmp_path_factory.mktemp(f"det{seed}")
        synthesize("r6.2", 12, "2010-03-01", "2010-03-16", seed, out)
        return out

    a, b, c = run(11), run(11), run(12)
    assert digest(a) == digest(b)
    da, dc = digest(a), digest(c)
    assert all(da[k] != dc[k] for k in ("logon.csv", "http.csv", "answers/insiders.csv"))


def test_insiders_act_inside_the_period_and_partly_in_the_test_period() -> None:
    days = [dt.date(2010, 1, 2) + dt.timedelta(days=i) for i in range(180)]
    for release in ("r4.2", "r5.2", "r6.2"):
        for seed in range(3):
            org = build_org(release, 80, days, seed)
            insiders = plan_insiders(org, seed)
            cut = cut_day(release, days)
            assert cut == 135  # no 2011 in the span: last quarter
            assert all(0 <= i.first_day and i.last_day < len(days) - 1 for i in insiders)
            late = [i for i in insiders if i.last_day >= cut]
            early = [i for i in insiders if i.last_day < cut]
            assert len(late) >= 2 and len(early) >= 1, (release, seed)
            assert all(org.leave_day[i.user] > i.last_day for i in insiders)
    counts = Counter(i.scenario for i in plan_insiders(build_org("r4.2", 1000, days, 0), 0))
    assert counts == {1: 30, 2: 30, 3: 10}  # CERT r4.2: 70 insiders of 1,000


def test_test_cut_uses_release_date_when_covered() -> None:
    days = [dt.date(2010, 10, 1) + dt.timedelta(days=i) for i in range(200)]
    assert cut_day("r4.2", days) == (dt.date(2011, 1, 1) - days[0]).days
    assert cut_day("r6.2", days) == (dt.date(2011, 3, 1) - days[0]).days


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(release="r7.0"), "unknown release"),
        (dict(start="2010-13-01"), "--start"),
        (dict(end="2010-01-10"), "at least 14 days"),
        (dict(users=5), "at least 10"),
    ],
)
def test_bad_input_gets_a_clear_error(tmp_path: Path, kwargs: dict, message: str) -> None:
    args = dict(release="r4.2", users=20, start=START, end=END, seed=0, out=tmp_path / "x") | kwargs
    with pytest.raises(ValueError, match=message):
        synthesize(**args)


def test_ids_are_unique_across_files(dataset: tuple[str, Path, dict]) -> None:
    _, out, _ = dataset
    ids = [r[0] for log in LOGS for r in _rows(out / f"{log}.csv")[1:]]
    assert len(ids) == len(set(ids))
    assert np.mean([i[1].isalpha() for i in ids]) == 1.0


def test_answer_composition_follows_the_scenarios(dataset: tuple[str, Path, dict]) -> None:
    """Which event types each scenario leaves in its answer file (FORMATS.md §3.2 table)."""
    release, out, manifest = dataset
    allowed = {
        1: {"logon", "device", "http"} | ({"file"} if release != "r4.2" else set()),
        2: {"device", "email", "http"},
        3: {"logon", "device", "email", "file", "http"},
        4: {"logon", "email", "file"},
        5: {"http"},
    }
    for ins in manifest["insiders"]:
        s = ins["scenario"]
        path = out / "answers" / (ins["details"] if release == "r6.2" else f"{ins['details'][:6]}/{ins['details']}")
        rows = _rows(path)
        kinds = {r[0] for r in rows}
        assert kinds <= allowed[s], (s, kinds)
        users = {r[3] for r in rows}
        if s == 1:  # after hours: logons at night, thumb drive, upload
            logons = [_date(r[2]).hour for r in rows if r[0] == "logon" and r[-1] == "Logon"]
            assert logons and all(h < 6 or h >= 20 for h in logons)
            assert {"logon", "device", "http"} <= kinds
        elif s == 2:
            assert "device" in kinds and "http" in kinds and users == {ins["user"]}
        elif s == 3:  # r4.2: rows as the supervisor; r6.2: recipients' View rows too
            assert len(users) >= (2 if release in ("r4.2", "r6.2") else 1)
            pcs = {r[4] for r in rows if r[0] == "logon"}
            assert len(pcs) == 1 and any("keylogger" in r[5] or r[5].endswith(".exe") for r in rows if r[0] == "file")
        elif s == 4:
            own = Counter(r[4] for r in _rows(out / "logon.csv")[1:] if r[2] == ins["user"]).most_common(1)[0][0]
            assert all(r[4] != own for r in rows if r[0] == "logon")  # someone else's machine
        elif s == 5:
            assert all(r[6] == "WWW Upload" and "dropbox.com" in r[5] for r in rows)
