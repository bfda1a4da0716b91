"""build_sequences round trip on a hand-made WORK folder, label-blindness, own logs, stats."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from neighborwatch.data.labels import row_labels
from neighborwatch.data.schema import LABEL_SCHEMA, conform_events
from neighborwatch.sequences.base import activity_labels, sequence_labels
from neighborwatch.sequences.build import build_sequences, load_config, load_sequences, load_tokenizer
from neighborwatch.sequences.splits import SPLITS
from neighborwatch.sequences.stats import dataset_stats, print_stats
from neighborwatch.sequences.tokenize import ActionHourTokenizer, WordHourTokenizer
from neighborwatch.workdir import WorkDir, write_json

DAY = timedelta(days=1)
SESSION = [
    ("logon", "Logon"),
    ("http", "WWW Visit"),
    ("http", "WWW Visit"),
    ("email", "Send"),
    ("file", "File Open"),
    ("logon", "Logoff"),
]


def hand_made_events(first: datetime, days: int, users: tuple[str, ...] = ("AAA0001", "BBB0002")) -> pl.DataFrame:
    """One office session per user per weekday (08:00-ish), on each user's own PC, plus for the
    second user a night session with a thumb drive on day 40 and one unclosed session at the end."""
    rows = []
    for d in range(days):
        day = first + d * DAY
        if day.weekday() >= 5:
            continue
        for k, u in enumerate(users):
            for j, (src, act) in enumerate(SESSION):
                rows.append((day + timedelta(hours=8, minutes=10 * j + k), u, f"PC-{k}", src, act))
    night = first + 40 * DAY + timedelta(hours=2)
    for j, (src, act) in enumerate(
        [
            ("logon", "Logon"),
            ("device", "Connect"),
            ("file", "File Write"),
            ("file", "File Write"),
            ("device", "Disconnect"),
            ("logon", "Logoff"),
        ]
    ):
        rows.append((night + timedelta(minutes=j), users[1], "PC-9", src, act))
    end = first + days * DAY + timedelta(hours=9)
    rows += [
        (end, users[0], "PC-0", "logon", "Logon"),
        (end + timedelta(minutes=1), users[0], "PC-0", "http", "WWW Visit"),
    ]
    df = pl.DataFrame(rows, schema=["time", "user", "host", "source", "action"], orient="row")
    df = df.sort("time").with_columns(
        pl.format("{{E{}}}", pl.int_range(0, pl.len()).cast(pl.Utf8).str.zfill(6)).alias("event_id")
    )
    return conform_events(df.sort("time", "event_id"))


def make_work(
    tmp_path: Path, events: pl.DataFrame, summary: dict, malicious_ids: list[str] | None = None, name: str = "work"
) -> WorkDir:
    work = WorkDir(tmp_path / name)
    work.root.mkdir(parents=True)
    events.write_parquet(work.events)
    write_json(work.summary, summary)
    if malicious_ids is not None:
        pl.DataFrame(
            {
                "event_id": malicious_ids,
                "malicious": [True] * len(malicious_ids),
                "scenario": [1] * len(malicious_ids),
                "insider": ["BBB0002"] * len(malicious_ids),
            },
            schema=LABEL_SCHEMA,
        ).write_parquet(work.labels)
    return work


def night_ids(events: pl.DataFrame) -> list[str]:
    return events.filter(pl.col("host") == "PC-9")["event_id"].to_list()


@pytest.fixture()
def cert_work(tmp_path: Path) -> tuple[WorkDir, pl.DataFrame]:
    events = hand_made_events(datetime(2010, 11, 1), 75)  # spans the r4 cut 2011-01-01
    return make_work(tmp_path, events, {"format": "cert", "release": "r4"}, night_ids(events)), events


def test_round_trip_without_collapse_keeps_every_event(cert_work) -> None:
    work, events = cert_work
    config = build_sequences(work, collapse=False, start_token=False, validation="period")
    sess = load_sequences(work, "session")
    days = load_sequences(work, "day")
    n = events.height
    for seqs in (sess, days):
        assert sorted(seqs.event_rows.tolist()) == list(range(n))
        # tokens/times line up with the events they came from
        assert np.array_equal(seqs.tokens, WordHourTokenizer().transform(events)[seqs.event_rows])
        assert np.array_equal(seqs.times, events["time"].cast(pl.Int64).to_numpy()[seqs.event_rows])
        assert (seqs.meta["length"] == seqs.meta["raw_length"]).all()
    assert sess.vocab_size == 169 and sess.kind == "session" and days.kind == "day"
    assert config["split"]["val_start"].startswith("2010-12-01") and config["split"]["test_start"].startswith(
        "2011-01-01"
    )
    assert config["tokenizer"]["type"] == "word-hour" and config["collapse"] is False
    assert config["counts"]["session"]["sequences"] == len(sess)
    # sessions: one per user-weekday + night + unclosed; first of each is a Logon, all on one host
    weekdays = sum(1 for d in range(75) if (datetime(2010, 11, 1) + d * DAY).weekday() < 5)
    assert len(sess) == 2 * weekdays + 2
    assert sess.meta["closed"].sum() == len(sess) - 1
    assert sess.meta.filter(~pl.col("closed"))["user"].to_list() == ["AAA0001"]
    assert days.meta["host"].null_count() == len(days) and "day" in days.meta.columns
    # splits by first event
    starts = sess.meta["start"]
    assert (sess.meta.filter(pl.col("split") == "train")["start"] < datetime(2010, 12, 1)).all()
    assert (sess.meta.filter(pl.col("split") == "test")["start"] >= datetime(2011, 1, 1)).all()
    assert set(sess.meta["split"]) == {"train", "validation", "test"}
    assert starts.is_sorted()
    assert load_tokenizer(work).to_json() == WordHourTokenizer().to_json()


def test_collapse_drops_repeats_and_is_label_blind(tmp_path: Path) -> None:
    events = hand_made_events(datetime(2010, 11, 1), 75)
    ids = events["event_id"].to_list()
    labelings = {"none": None, "night": night_ids(events), "repeats": ids[1::3]}
    built = {}
    for name, mal in labelings.items():
        work = make_work(tmp_path, events, {"format": "cert", "release": "r4"}, mal, name=name)
        build_sequences(work, start_token=False)
        built[name] = load_sequences(work, "session")
    ref = built["none"]
    # the http, http repeat (same hour) and the File Write repeat are gone, nothing else
    assert ref.n_activities == events.height - (len(ref) - 2) - 1
    for other in built.values():
        assert np.array_equal(other.tokens, ref.tokens)
        assert np.array_equal(other.event_rows, ref.event_rows)
        assert np.array_equal(other.offsets, ref.offsets)
        # only WHO is held out for validation may follow the labels (stratification)
        assert other.meta.drop("split").equals(ref.meta.drop("split"))
    for s in range(len(ref)):
        seq = ref.sequence(s)
        assert np.all(seq[1:] != seq[:-1])


def test_split_override_and_fallback(tmp_path: Path) -> None:
    events = hand_made_events(datetime(2010, 1, 4), 60)  # before any CERT cut → fallback
    work = make_work(tmp_path, events, {"format": "cert", "release": "r4"})
    config = build_sequences(work)
    assert config["split"]["rule"] == "fallback"
    assert load_config(work)["split"] == config["split"]
    config = build_sequences(work, test_start="2010-02-15", val_start="2010-02-01")
    assert config["split"]["rule"] == "override"
    sess = load_sequences(work)
    val = sess.meta.filter(pl.col("split") == "validation")["start"]
    assert val.min() >= datetime(2010, 2, 1) and val.max() < datetime(2010, 2, 15)
    assert sess.extra["split"] == config["split"]


def test_own_logs_get_action_hour_tokenizer_fitted_on_training(tmp_path: Path) -> None:
    events = hand_made_events(datetime(2010, 1, 4), 60)
    # an own-log action that appears only late (test period) gets the unknown word
    late = (
        events.filter(pl.col("time") > datetime(2010, 3, 1))
        .head(3)
        .with_columns(pl.lit("other").alias("source"), pl.lit("badge in").alias("action"))
    )
    events = events.filter(~pl.col("event_id").is_in(late["event_id"].implode())).vstack(late).sort("time", "event_id")
    work = make_work(tmp_path, events, {"format": "csv", "release": "own"})
    config = build_sequences(work)
    tok = load_tokenizer(work)
    assert isinstance(tok, ActionHourTokenizer) and ("other", "badge in") not in tok.pairs
    assert config["vocab_size"] - 1 == tok.vocab_size == (len(tok.pairs) + 1) * 24 + 1  # + BOS
    assert config["bos"] == tok.vocab_size
    sess = load_sequences(work)
    late_rows = np.flatnonzero(events["action"].to_numpy() == "badge in")
    pos = np.isin(sess.event_rows, late_rows)
    assert pos.sum() >= 1 and np.all((sess.tokens[pos] - 1) // 24 == 0)  # unknown word
    with pytest.raises(ValueError, match="no word for"):
        build_sequences(work, tokenizer="word-hour")


def test_missing_work_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="prepare"):
        build_sequences(tmp_path / "nothing")
    work = make_work(tmp_path, hand_made_events(datetime(2010, 1, 4), 10), {"release": "r4"})
    with pytest.raises(FileNotFoundError, match="prepare"):
        load_sequences(work)
    with pytest.raises(ValueError, match="kind"):
        load_sequences(work, "week")


def test_stats_counts(cert_work, capsys) -> None:
    work, events = cert_work
    build_sequences(work)
    stats = print_stats(work)
    assert "malicious sessions" in capsys.readouterr().out
    assert json.loads((work.root / "stats.json").read_text())["splits"] == stats["splits"]
    sess = load_sequences(work)
    mal, _ = row_labels(work)
    act = activity_labels(sess, mal)
    bad = sequence_labels(sess, act)
    a = stats["splits"]["all"]
    assert stats["events"] == a["events"] == events.height
    assert stats["insiders"] == 1 and a["users"] == 2 and a["users_with_malicious"] == 1
    assert a["sessions"] == len(sess) and a["malicious_sessions"] == int(bad.sum()) == 1
    assert a["malicious_activities"] == int(act.sum()) == 5  # 6 night events, one File Write collapsed
    assert stats["malicious_events"] == 6
    parts = [stats["splits"][s] for s in SPLITS]
    assert sum(p["sessions"] for p in parts) == a["sessions"]
    assert sum(p["activities"] for p in parts) == a["activities"]
    # the night session is on day 40 = 2010-12-11: validation
    v = stats["splits"]["validation"]
    assert v["malicious_sessions"] == 1 and v["malicious_samples"] == 5  # positions 1..5 after BOS
    t = stats["splits"]["test"]
    assert t["samples"] == t["activities"] - t["sessions"]
    assert stats["splits"]["train"]["malicious_samples_oversampled"] == 0
    sc = stats["scenarios"]["1"]
    assert sc["insiders"] == 1 and sc["malicious_events"] == 6
    assert sc["validation"]["malicious_sessions"] == 1 and sc["train"]["malicious_sessions"] == 0
    assert sc["validation"]["insiders"] == 1 and sc["test"]["insiders"] == 0
    assert sc["all"]["malicious_user_days"] == 1
    assert sc["validation"]["malicious_samples"] == 5 and sc["test"]["malicious_samples"] == 0


def test_stats_without_labels(tmp_path: Path) -> None:
    work = make_work(tmp_path, hand_made_events(datetime(2010, 1, 4), 20), {"release": "own", "format": "csv"})
    build_sequences(work)
    stats = dataset_stats(work, write=False)
    assert stats["labelled"] is False and stats["insiders"] == 0 and stats["scenarios"] == {}
    assert not (work.root / "stats.json").exists()


def test_real_r42_rows_sessionize_by_the_rules(cert_samples: Path, tmp_path: Path) -> None:
    """Ingest the real r4.2 heads (../shared/cert-samples; skipped where absent) and check the
    session rules on them: Logons only open, Logoffs only close, every event in one session."""
    from neighborwatch.data.prepare import ingest

    ingest(cert_samples / "r4.2", tmp_path / "w")
    work = WorkDir(tmp_path / "w")
    config = build_sequences(work, collapse=False, start_token=False)
    assert config["tokenizer"]["type"] == "word-hour"
    sess = load_sequences(work)
    events = pl.read_parquet(work.events, columns=["user", "host", "source", "action"])
    assert np.array_equal(np.sort(sess.event_rows), np.arange(events.height))
    pos = sess.position_in_sequence()
    last = np.zeros(sess.n_activities, bool)
    last[sess.offsets[1:] - 1] = True
    ev = events[sess.event_rows.tolist()]
    logon = ((ev["source"] == "logon") & (ev["action"] == "Logon")).to_numpy()
    logoff = ((ev["source"] == "logon") & (ev["action"] == "Logoff")).to_numpy()
    assert logon.any() and logoff.any()
    assert np.all(pos[logon] == 0) and np.all(last[logoff])
    seq = sess.seq_index()
    assert (
        ev.with_columns(seq=seq)
        .group_by("seq")
        .agg(pl.col("user").n_unique(), pl.col("host").n_unique())
        .select((pl.col("user") == 1) & (pl.col("host") == 1))
        .to_series()
        .all()
    )


def test_held_out_users_are_validation_over_the_whole_training_period(tmp_path: Path) -> None:
    from streaming_fixtures import make_events

    events = make_events(seed=5, users=10, days=40)
    work = make_work(tmp_path, events, {"format": "cert", "release": "r4.2"})
    config = build_sequences(work)
    val = config["validation"]
    assert val["rule"] == "users" and len(val["users"]) == 2 and val["users_before_test"] == 10
    test_start = datetime.fromisoformat(config["split"]["test_start"])
    val_start = datetime.fromisoformat(config["split"]["val_start"])
    for kind in ("session", "day"):
        meta = load_sequences(work, kind).meta
        before = meta.filter(pl.col("start") < test_start)
        held = before["user"].is_in(val["users"])
        late = before["start"] >= val_start
        assert (before.filter(held)["split"] == "validation").all()
        # the others: trained on before val_start; calibration (alert thresholds only) after it
        assert (before.filter(~held & ~late)["split"] == "train").all()
        assert (before.filter(~held & late)["split"] == "calibration").all() and (~held & late).any()
        assert (meta.filter(pl.col("start") >= test_start)["split"] == "test").all()
        # validation spans the training period, not one month
        assert before.filter(held)["start"].min() < test_start - timedelta(days=20)
    period = build_sequences(work, validation="period")
    assert period["validation"]["rule"] == "period" and period["validation"]["users"] is None
