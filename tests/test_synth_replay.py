"""`synth --insiders real`: real CERT answer rows replayed into a synthetic organisation.

Every replayed row must come out of `prepare` as a labelled malicious event of its scenario; the
rows keep their real content, order, weekday and clock time; people and PCs are the synthetic
organisation's. Needs ../shared/cert-samples (skipped where absent).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from neighborwatch.data.prepare import ingest
from neighborwatch.data.synth import synthesize

USERS, START, END = 30, "2010-01-04", "2010-05-20"  # long enough for 2-3 month scenario 2/4 windows


def _answer_rows(raw: Path) -> dict[str, list[list[str]]]:
    """Generated answer file name → its rows (csv fields)."""
    out = {}
    for f in sorted((raw / "answers").rglob("r*.csv")):
        with f.open(newline="") as fh:
            out[f.name] = [r for r in csv.reader(fh) if r]
    return out


def _real_rows(answers: Path, name: str) -> list[list[str]]:
    path = answers / name[:6] / name
    with path.open(newline="") as fh:
        return [r for r in csv.reader(fh) if r]


@pytest.fixture(scope="module", params=["r4.2", "r5.2"])
def replayed(request, cert_samples, tmp_path_factory):
    release = request.param
    answers = cert_samples / release / "answers"
    root = tmp_path_factory.mktemp(f"replay_{release.replace('.', '')}")
    raw = root / "raw"
    manifest = synthesize(release, USERS, START, END, 5, raw, insiders="real", answers=answers)
    ingest(raw, root / "work")
    return release, answers, raw, root / "work", manifest


def test_every_replayed_row_is_a_labelled_malicious_event(replayed):
    release, answers, raw, work, manifest = replayed
    rows = _answer_rows(raw)
    expected = {r[1]: int(name.split("-")[1]) for name, rs in rows.items() for r in rs}
    labels = pl.read_parquet(work / "labels.parquet").filter(pl.col("malicious"))
    assert dict(zip(labels["event_id"].to_list(), labels["scenario"].to_list())) == expected
    # as many rows as the real answer files chosen, counted per scenario in the manifest
    per_scenario: Counter = Counter()
    for ins in manifest["insiders"]:
        n_real = len(_real_rows(answers, ins["replayed_from"]))
        assert ins["malicious_events"] == n_real == len(rows[ins["details"]])
        per_scenario[str(ins["scenario"])] += n_real
    assert manifest["malicious_events_per_scenario"] == dict(per_scenario)
    assert set(per_scenario) == {str(s) for s in range(1, 4 if release == "r4.2" else 5)}
    assert json.loads((work / "summary.json").read_text())["quarantined"]["rows"] == 0


def test_rows_keep_content_clock_and_weekday_but_not_real_people(replayed):
    _, answers, raw, _, manifest = replayed
    rows = _answer_rows(raw)
    real_users = set()
    for ins in manifest["insiders"]:
        real, ours = _real_rows(answers, ins["replayed_from"]), rows[ins["details"]]
        real_users.add(ins["real_user"])
        assert [r[0] for r in ours] == [r[0] for r in real]
        assert [r[-1] for r in ours] == [r[-1] for r in real]  # content / activity / url kept
        for a, b in zip(ours, real):
            ta, tb = (dt.datetime.strptime(x[2], "%m/%d/%Y %H:%M:%S") for x in (a, b))
            assert ta - tb == dt.timedelta(days=ins["shift_days"]) and ins["shift_days"] % 7 == 0
            assert len(a) == len(b)  # the r5 label column stays where it was
        assert {r[3] for r in ours if r[3] != ins["user"]} <= set(_ldap_users(raw))
        own = {r[3] for r in ours}
        assert ins["user"] in own and not own & {ins["real_user"]}
    text = "".join(",".join(r) for rs in rows.values() for r in rs)
    assert not any(u in text for u in real_users)


def _ldap_users(raw: Path) -> dict[str, dict]:
    first = min((raw / "LDAP").glob("*.csv"))
    with first.open(newline="") as fh:
        return {r["user_id"]: r for r in csv.DictReader(fh)}


def test_scenario_3_impersonates_the_mapped_supervisor(replayed):
    release, _, raw, _, manifest = replayed
    ldap = _ldap_users(raw)
    by_name = {r["employee_name"]: r for r in ldap.values()}
    ins = next(i for i in manifest["insiders"] if i["scenario"] == 3)
    sup = by_name[ldap[ins["user"]]["supervisor"]]
    ours = _answer_rows(raw)[ins["details"]]
    pcs = Counter(r[4] for r in ours)
    assert len(pcs) == 2  # own PC and the supervisor's
    others = {r[3] for r in ours} - {ins["user"]}
    assert others == ({sup["user_id"]} if release == "r4.2" else set())
    first_mail = next(r for r in ours if r[0] == "email")
    assert first_mail[5] == sup["email"] and first_mail[8] == ldap[ins["user"]]["email"]


def test_insiders_are_spread_over_the_periods(replayed):
    _, _, _, _, manifest = replayed
    periods = {i["period"] for i in manifest["insiders"]}
    assert periods == {"train", "validation", "test"}
    assert sum(manifest["malicious_events_per_period"].values()) == manifest["malicious_events"]
    assert manifest["malicious_events_per_period"]["test"] > 0
    assert manifest["malicious_events_per_period"]["train"] > 0


def test_same_seed_same_bytes(cert_samples, tmp_path):
    answers = cert_samples / "r4.2" / "answers"

    def digest(seed: int, name: str) -> str:
        out = tmp_path / name
        synthesize("r4.2", 20, "2010-01-04", "2010-04-20", seed, out, insiders="real", answers=answers)
        h = hashlib.sha256()
        for f in sorted(out.rglob("*.csv")):
            h.update(f.read_bytes())
        return h.hexdigest()

    assert digest(1, "a") == digest(1, "b") != digest(2, "c")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"release": "r6.2"}, "replays r4.2 and r5.2"),
        ({"answers": "missing"}, "is not a folder"),
        ({"answers": None}, "needs --answers"),
        ({"insiders": "synthetic"}, "only for --insiders real"),
        ({"insiders": "both"}, "--insiders must be one of"),
        ({"end": "2010-02-10"}, "fits a"),
    ],
)
def test_bad_input_gets_a_clear_error(cert_samples, tmp_path, kwargs, message):
    args = {
        "release": "r4.2",
        "users": 20,
        "start": "2010-01-04",
        "end": "2010-04-20",
        "seed": 0,
        "out": tmp_path / "o",
        "insiders": "real",
        "answers": cert_samples / "r4.2" / "answers",
    }
    if kwargs.get("answers") == "missing":
        kwargs = {"answers": tmp_path / "nothing"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        synthesize(**args)
