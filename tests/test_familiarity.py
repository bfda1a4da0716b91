"""Familiarity reasons: the training-period profile (per user and per peer group), the live
engine's "first time for this user" / "rare among peers" with the numbers, their snapshot and
idle eviction, and the train → serve path (a model folder without a profile still serves)."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from neighborwatch.sequences.base import META_SCHEMA, SequenceSet
from neighborwatch.sequences.build import load_config, load_sequences
from neighborwatch.sequences.familiarity import (
    ALL_USERS,
    DAY_US,
    FamiliarityProfile,
    LiveCounts,
    build_familiarity,
    phrase,
)
from neighborwatch.sequences.tokenize import tokenizer_from_json
from neighborwatch.streaming import snapshot
from neighborwatch.streaming.alerts import Thresholds
from neighborwatch.streaming.events import parse_event
from streaming_fixtures import bigram_engine, events_as_dicts, small_work

US = 1_000_000
EVERY_ACTIVITY = Thresholds(activity=0.0, risk=float("inf"))  # every scored activity alerts


# -- the profile on a hand-built organisation -------------------------------------------------
def hand_built(splits: dict[str, list[tuple[str, list[tuple[int, int]]]]]) -> SequenceSet:
    """A SequenceSet of (user, [(token, day), ...]) sequences per split, no BOS, no collapse."""
    tokens, times, meta, offsets = [], [], [], [0]
    for split, seqs in splits.items():
        for user, acts in seqs:
            tokens += [t for t, _ in acts]
            times += [d * DAY_US + 9 * 3600 * US for _, d in acts]
            offsets.append(len(tokens))
            meta.append((len(meta), user, "PC", datetime(2010, 1, 1), datetime(2010, 1, 1), len(acts), split))
    return SequenceSet(
        tokens=np.array(tokens),
        offsets=np.array(offsets),
        event_rows=np.arange(len(tokens)),
        times=np.array(times),
        meta=pl.DataFrame(meta, schema=META_SCHEMA, orient="row"),
        vocab_size=20,
    )


ORG = pl.DataFrame(
    {
        "user": ["A", "B", "C", "D", "X"],
        "role": ["Salesman", "Salesman", "Salesman", None, "Salesman"],
        "department": ["Sales", "Sales", "Sales", "Sales", None],
        "team": [None, None, None, None, None],
    }
)


@pytest.fixture(scope="module")
def profile() -> FamiliarityProfile:
    seqs = hand_built(
        {
            "train": [
                ("A", [(7, 0), (7, 0), (8, 1)]),
                ("A", [(7, 2)]),
                ("B", [(7, 3), (9, 3)]),
                ("C", [(8, 4)]),
                ("D", [(9, 5)]),
                ("E", [(8, 5)]),  # not in the organisation table
            ],
            "validation": [("C", [(7, 6), (9, 6)]), ("F", [(7, 6)])],
            "test": [("C", [(7, 9)]), ("B", [(11, 9)])],
        }
    )
    return FamiliarityProfile.build(seqs, ORG)


def test_profile_counts_training_events_and_days_only(profile):
    a = profile.describe("A", 7)
    assert (a["user_count"], a["user_days"], a["user_training_days"]) == (3, 2, 3)
    assert not a["first_time_for_user"]
    # C did token 7 in validation and in test, never in training: a first
    c = profile.describe("C", 7)
    assert c["first_time_for_user"] and c["user_count"] == 0 and c["user_training_days"] == 1
    assert profile.describe("B", 11)["first_time_for_user"]  # seen only in the test period
    # F appears in validation only: no training history at all
    f = profile.describe("F", 7)
    assert f["first_time_for_user"] and f["user_training_days"] == 0 and f["peer_group"] == ALL_USERS
    assert "F" not in profile.user_tokens["user"].to_list()


def test_peer_share_on_a_hand_built_organisation(profile):
    # C's peers: A and B (role Salesman, both did 7 in training); X is in LDAP but has no training history
    c = profile.describe("C", 7)
    assert (c["peer_group"], c["peer_users_with_it"], c["peer_users"], c["peer_share"]) == ("role=Salesman", 2, 2, 1.0)
    assert c["rare_among_peers"] is False
    # A's peers are B and C; A itself is not its own peer
    a = profile.describe("A", 7)
    assert (a["peer_users_with_it"], a["peer_users"], a["peer_share"]) == (1, 2, 0.5)
    # D has no role: department Sales; alone in it, so no peers to compare with
    d = profile.describe("D", 9)
    assert (d["peer_group"], d["peer_users"], d["peer_share"], d["rare_among_peers"]) == (
        "department=Sales",
        0,
        None,
        None,
    )
    assert phrase(d) == "this user: 1 time on 1 day; no peers (department Sales) to compare with"
    # E is not in the table: every other training user is a peer (A, B, C, D); 2 of them did 7
    e = profile.describe("E", 7)
    assert (e["peer_group"], e["peer_users_with_it"], e["peer_users"]) == (ALL_USERS, 2, 4)
    # X (role Salesman, no training history): peers are all 3 trained salesmen
    x = profile.describe("X", 9, rare_share=0.34)
    assert (x["peer_users_with_it"], x["peer_users"], x["peer_share"], x["rare_among_peers"]) == (1, 3, 0.3333, True)
    assert (
        phrase(x)
        == "first time for this user (no training history); rare among peers: 1 of 3 peers (role Salesman) ever did it"
    )
    assert profile.describe("X", 9)["rare_among_peers"] is False  # default: ≤ 5 %
    # live occurrences add to the user's counts
    live = profile.describe("C", 7, live=(2, 1))
    assert (live["user_count"], live["user_days"], live["live_count"], live["first_time_for_user"]) == (2, 1, 2, False)


def test_held_out_users_learn_their_normal_validation_events_and_stay_nobodys_peer(profile):
    """X (role Salesman) and F (not in LDAP) are held out: after `with_new_users` their normal
    validation events are their history; what the validation labels call malicious is not; C,
    trained, learns nothing from validation; peers stay the training users; twice = once."""
    seqs = hand_built(
        {
            "train": [("A", [(7, 0)])],
            "validation": [("X", [(9, 6), (9, 7), (12, 7)]), ("F", [(7, 6)]), ("C", [(11, 6)])],
        }
    )
    validation = seqs.split("validation")
    malicious = np.array([False, False, True, False, False])  # X's token 12
    before = {(u, t): profile.describe(u, t) for u, t in [("C", 7), ("C", 11), ("A", 7), ("X", 9)]}
    learned = profile.with_new_users(validation, malicious)
    x = learned.describe("X", 9)
    assert (x["user_count"], x["user_days"], x["user_training_days"], x["history"]) == (2, 2, 2, "validation")
    assert not x["first_time_for_user"] and "first time" not in phrase(x)
    assert learned.describe("X", 12)["first_time_for_user"]  # malicious in validation: never his normal
    f = learned.describe("F", 7)
    assert (f["user_count"], f["history"], f["peer_group"]) == (1, "validation", ALL_USERS)
    # X's peers are still the 3 trained salesmen, and nobody has X as a peer
    assert (x["peer_users"], x["peer_users_with_it"]) == (before["X", 9]["peer_users"], 1)
    for key in [("C", 7), ("C", 11), ("A", 7)]:
        assert learned.describe(*key) == before[key]
    assert learned.describe("C", 11)["first_time_for_user"]
    again = learned.with_new_users(validation, malicious)
    assert again.users.equals(learned.users) and again.user_tokens.equals(learned.user_tokens)
    assert learned.meta["validation_users_learned"] == again.meta["validation_users_learned"] == 2
    # a replay of X's validation days is not news; the day after is
    assert not learned.after_training("X", 7 * DAY_US + 9 * 3600 * US)
    assert learned.after_training("X", 8 * DAY_US)
    assert profile.describe("X", 9)["history"] is None and profile.describe("A", 7)["history"] == "training"


def test_a_learned_profile_round_trips_and_an_older_profile_still_loads(profile, tmp_path):
    seqs = hand_built({"validation": [("X", [(9, 6)])]})
    learned = profile.with_new_users(seqs, None)
    learned.save(tmp_path / "new")
    back = FamiliarityProfile.load(tmp_path / "new")
    assert back is not None and back.describe("X", 9) == learned.describe("X", 9)
    profile.save(tmp_path / "old")  # as written before `history` existed
    users = pl.read_parquet(tmp_path / "old" / "familiarity" / "users.parquet").drop("history")
    users.write_parquet(tmp_path / "old" / "familiarity" / "users.parquet")
    old = FamiliarityProfile.load(tmp_path / "old")
    assert old is not None
    for user, token in [("A", 7), ("C", 7), ("X", 9), ("F", 7)]:
        assert old.describe(user, token) == profile.describe(user, token)


def _two_kinds_of_users(clerks: int, admins: int) -> SequenceSet:
    """Clerks do tokens 1-3 and admins 7-9 (volumes differ within each kind); one admin, A00, once
    did a clerk's token 2."""
    users = [(f"C{i:02d}", [(1 + j % 3, j % 5) for j in range(8 + i)]) for i in range(clerks)]
    users += [
        (f"A{i:02d}", [(7 + j % 3, j % 5) for j in range(8 + 3 * i)] + [(2, 6)] * (i == 0)) for i in range(admins)
    ]
    return hand_built({"train": users})


def test_without_an_organisation_table_peers_are_users_who_do_the_same_things():
    """No LDAP: peer groups come from what users do, so a clerk's routine activity is rare among
    the admins, which it would not be among 'all users'."""
    prof = FamiliarityProfile.build(_two_kinds_of_users(25, 25))
    groups = dict(prof.users.select("user", "group").iter_rows())
    assert {groups[f"A{i:02d}"] for i in range(25)} == {"activity profile=1"}  # A00 is the first name
    assert {groups[f"C{i:02d}"] for i in range(25)} == {"activity profile=2"}
    r = prof.describe("A05", 2)
    assert (r["peer_group"], r["peer_users"], r["peer_users_with_it"]) == ("activity profile=1", 24, 1)
    assert r["rare_among_peers"] and "1 of 24 peers (activity profile 1)" in phrase(r)
    clerk = prof.describe("C05", 2)
    assert clerk["peer_users_with_it"] == 24 and not clerk["rare_among_peers"]
    assert prof.meta["peer_rule"].startswith("activity profile clusters")
    # the same profile again (seeded), and one group for an organisation too small to split
    assert FamiliarityProfile.build(_two_kinds_of_users(25, 25)).users.equals(prof.users)
    small = FamiliarityProfile.build(_two_kinds_of_users(15, 15))
    assert set(small.users["group"].to_list()) == {ALL_USERS}
    assert small.describe("A05", 2)["peer_users_with_it"] == 16 and not small.describe("A05", 2)["rare_among_peers"]


def test_an_organisation_table_names_the_peers_even_when_activity_differs():
    org = pl.DataFrame(
        {"user": [f"A{i:02d}" for i in range(25)] + [f"C{i:02d}" for i in range(25)], "role": ["IT"] * 50}
    )
    prof = FamiliarityProfile.build(_two_kinds_of_users(25, 25), org)
    assert set(prof.users["group"].to_list()) == {"role=IT"}
    assert prof.describe("A05", 2)["peer_users"] == 49


def test_profile_save_load_round_trip(profile, tmp_path):
    profile.save(tmp_path)
    back = FamiliarityProfile.load(tmp_path)
    assert back is not None and back.meta == profile.meta
    for user, token in [("A", 7), ("C", 7), ("D", 9), ("E", 8), ("nobody", 7), ("A", 999)]:
        assert back.describe(user, token) == profile.describe(user, token)
    assert FamiliarityProfile.load(tmp_path / "elsewhere") is None


def test_work_profile_matches_a_count_of_the_training_events():
    """On a real WORK (collapse on, BOS, held-out validation users): the profile's counts are the
    raw training events per (user, token) — collapsed repeats included — and nothing else."""
    work = small_work()
    seqs = load_sequences(work)
    prof = build_familiarity(work, seqs)
    events = pl.read_parquet(work / "events.parquet")
    tokens = tokenizer_from_json(load_config(work)["tokenizer"]).transform(events)
    train = seqs.split("train")
    rows = np.sort(train.raw_event_rows())
    expect = (
        events.with_columns(token=pl.Series(tokens).cast(pl.Int32), day=pl.col("time").dt.date())[rows.tolist()]
        .group_by("user", "token")
        .agg(count=pl.len().cast(pl.Int64), days=pl.col("day").n_unique().cast(pl.Int32))
        .sort("user", "token")
    )
    assert prof.user_tokens.equals(expect.select("user", "token", "count", "days"))
    assert prof.meta["training_events"] == len(rows) < events.height
    held_out = set(load_config(work)["validation"]["users"] or [])
    assert held_out and not held_out & set(prof.user_tokens["user"].to_list())


# -- live: first time, snapshot, idle eviction --------------------------------------------------
def live_events(user: str, start: datetime, hour: int, prefix: str) -> list[dict]:
    """Logon, then Connect / Disconnect / Connect at `hour`: two kept Connects (no collapse between)."""
    t = start.replace(hour=hour, minute=0)
    acts = [("logon", "Logon"), ("device", "Connect"), ("device", "Disconnect"), ("device", "Connect")]
    return [
        {
            "event_id": f"{prefix}{i}",
            "time": (t + timedelta(minutes=i)).isoformat(),
            "user": user,
            "host": "PC-0001",
            "source": s,
            "action": a,
        }
        for i, (s, a) in enumerate(acts)
    ]


@pytest.fixture(scope="module")
def work_profile():
    work = small_work()
    return work, build_familiarity(work)


def engine_with(work_profile, **config):
    work, prof = work_profile
    engine, _ = bigram_engine(work, thresholds=EVERY_ACTIVITY, max_hold_s=0.0, window_s=0.0, **config)
    engine.familiarity = prof
    return engine


def alert_on(alerts: list[dict], event_id: str) -> dict:
    return next(a for a in alerts if a["event_id"] == event_id and a["kind"] == "activity")


def submit(engine, dicts) -> list[dict]:
    out = engine.submit([parse_event(d) for d in dicts], now=0.0)
    return out.alerts + engine.flush().alerts


def test_first_live_occurrence_is_first_time_the_second_is_not(work_profile):
    engine = engine_with(work_profile)
    work, prof = work_profile
    evs = live_events("U001", datetime(2010, 3, 1), 3, "L")
    alerts = submit(engine, evs)
    token = alert_on(alerts, "L1")["reasons"]["observed"]["token"]
    assert alert_on(alerts, "L3")["reasons"]["observed"]["token"] == token
    assert prof.describe("U001", token)["first_time_for_user"]  # never a 3 a.m. Connect in training
    first, second = alert_on(alerts, "L1")["reasons"]["familiarity"], alert_on(alerts, "L3")["reasons"]["familiarity"]
    assert first["first_time_for_user"] and first["user_count"] == 0
    assert not second["first_time_for_user"]
    assert (second["user_count"], second["live_count"], second["user_days"]) == (1, 1, 1)
    assert first == prof.describe("U001", token) and second == prof.describe("U001", token, live=(1, 1))
    # the Logon before was counted too, but as another token
    assert sum(c[0] for c in engine.live_seen.users["U001"].values()) == len(evs)
    assert alert_on(alerts, "L1")["summary"].startswith("Connect at 3h had probability ")
    assert "; first time for this user; " in alert_on(alerts, "L1")["summary"]
    assert "this user: 1 time on 1 day" in alert_on(alerts, "L3")["summary"]


def test_live_counts_survive_snapshot_and_restore(work_profile, tmp_path):
    evs = live_events("U002", datetime(2010, 3, 1), 2, "S")
    a = engine_with(work_profile)
    assert alert_on(submit(a, evs[:2]), "S1")["reasons"]["familiarity"]["first_time_for_user"]
    snapshot.save(a, tmp_path)
    b = engine_with(work_profile)
    snapshot.load(b, tmp_path)
    assert b.live_seen.users == a.live_seen.users and b.live_seen.users["U002"]
    second = alert_on(submit(b, evs[2:]), "S3")["reasons"]["familiarity"]
    assert not second["first_time_for_user"] and second["live_count"] == 1
    # without the restore the same event would have been a first
    fresh = engine_with(work_profile)
    assert alert_on(submit(fresh, evs[2:]), "S3")["reasons"]["familiarity"]["first_time_for_user"]


def test_live_counts_are_forgotten_with_an_idle_user(work_profile):
    engine = engine_with(work_profile, idle_user_s=3 * 86_400.0)
    day0 = datetime(2010, 3, 1)
    submit(engine, live_events("U003", day0, 4, "A")[:2])
    assert "U003" in engine.live_seen.users
    other = live_events("U004", day0 + timedelta(days=10), 9, "B")[:1]  # sweeps the idle users
    submit(engine, other)
    assert "U003" not in engine.risk.users and "U003" not in engine.live_seen.users
    back = live_events("U003", day0 + timedelta(days=10), 4, "C")
    again = alert_on(submit(engine, back[2:]), "C3")["reasons"]["familiarity"]
    assert again["first_time_for_user"]  # the live count went with the rest of the user's state


def test_a_replay_of_the_training_period_is_not_counted_twice(work_profile):
    work, prof = work_profile
    engine = engine_with(work_profile)
    trained = prof.users.filter(pl.col("days") > 0).sort("user")
    user, last_us = trained["user"][0], trained["last_us"][0]
    events = pl.read_parquet(work / "events.parquet").filter(pl.col("user") == user).head(20)
    dicts = events_as_dicts(events)
    assert dicts and all(parse_event(d).time_us <= last_us for d in dicts)
    submit(engine, dicts)
    assert user not in engine.live_seen.users  # already in the profile's training counts
    submit(engine, live_events(user, datetime(2010, 3, 3), 5, "N")[:1])
    assert sum(c[0] for c in engine.live_seen.users[user].values()) == 1


def test_live_counts_json_round_trip():
    lc = LiveCounts()
    for token, t in [(5, 0), (5, 3600 * US), (5, DAY_US + 1), (6, 2 * DAY_US), (5, 10)]:
        lc.add("u", token, t)
    assert lc.get("u", 5) == (4, 2) and lc.get("u", 6) == (1, 1) and lc.get("v", 5) == (0, 0)
    back = LiveCounts.from_json(json.loads(json.dumps(lc.to_json())))
    assert back.users == lc.users and back.last_us == lc.last_us
    assert back.forget_idle(DAY_US) == [] and back.forget_idle(3 * DAY_US) == ["u"] and not back.users


# -- train → serve ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    from neighborwatch.models.train_work import train_work

    work = small_work()
    out = tmp_path_factory.mktemp("fam") / "model"
    summary = train_work(work, out, "markov", seed=1)
    assert Path(summary["familiarity"]).is_dir()
    return work, out


def test_train_saves_the_profile_and_serve_uses_it(trained):
    from neighborwatch.streaming.loader import build_engine

    work, model = trained
    engine = build_engine(model, work, thresholds=EVERY_ACTIVITY)
    assert engine.familiarity is not None
    assert engine.familiarity.meta["training_events"] == build_familiarity(work).meta["training_events"]
    alerts = submit(engine, live_events("U005", datetime(2010, 3, 2), 1, "T"))
    assert all("familiarity" in a["reasons"] for a in alerts) and alerts


def test_serve_gives_held_out_users_their_normal_validation_history(trained, tmp_path):
    """As `evaluate` scores the test period: each user held out for validation counts his normal
    validation events (the labels leave the malicious ones out) before the engine scores."""
    from neighborwatch.data.labels import row_labels
    from neighborwatch.sequences.base import activity_labels
    from neighborwatch.streaming.loader import build_engine
    from neighborwatch.workdir import WorkDir

    original, model = trained
    work = tmp_path / "work"
    shutil.copytree(original, work)
    held_out = sorted(load_config(work)["validation"]["users"])
    validation = load_sequences(work).split("validation")
    rows = validation.raw_event_rows()[validation.position_users()[validation.raw_positions()] == held_out[0]]
    ids = pl.read_parquet(work / "events.parquet", columns=["event_id"])["event_id"]
    pl.DataFrame({"event_id": ids.gather(rows[:6]), "malicious": [True] * 6, "scenario": [1] * 6}).write_parquet(
        WorkDir(work).labels
    )
    engine = build_engine(model, work, thresholds=EVERY_ACTIVITY)
    assert engine.familiarity is not None
    labels = activity_labels(validation, row_labels(work)[0])
    positions = validation.raw_positions()
    users = validation.position_users()[positions]
    normal = ~labels[positions]
    assert (~normal).sum() == 6
    learned = engine.familiarity.users.filter(pl.col("history") == "validation")
    assert sorted(learned["user"].to_list()) == sorted(set(users) & set(held_out))
    for user in learned["user"].to_list():
        mine = validation.tokens[positions[(users == user) & normal]]
        got = engine.familiarity.user_tokens.filter(pl.col("user") == user).sort("token")
        tokens, counts = np.unique(mine, return_counts=True)
        assert got["token"].to_list() == tokens.tolist() and got["count"].to_list() == counts.tolist()
    # the training users' counts are the training profile's
    assert engine.familiarity.user_tokens.filter(~pl.col("user").is_in(held_out)).equals(
        build_familiarity(work).user_tokens
    )


def test_a_model_without_a_profile_serves_without_the_block(trained, tmp_path):
    from neighborwatch.streaming.loader import build_engine

    work, model = trained
    old = tmp_path / "old-model"
    shutil.copytree(model, old)
    shutil.rmtree(old / "familiarity")
    engine = build_engine(old, work, thresholds=EVERY_ACTIVITY)
    assert engine.familiarity is None
    alerts = submit(engine, live_events("U005", datetime(2010, 3, 2), 1, "T"))
    assert alerts and not any("familiarity" in a["reasons"] for a in alerts)
    assert not engine.live_seen.users  # nothing counted without a profile to compare with


def test_a_profile_of_other_tokens_or_unreadable_is_not_used(trained, tmp_path):
    from neighborwatch.streaming.loader import build_engine

    work, model = trained
    other = tmp_path / "other-model"
    shutil.copytree(model, other)
    meta_path = other / "familiarity" / "familiarity.json"
    meta = json.loads(meta_path.read_text())
    meta["tokenizer"] = "0123456789abcdef"
    meta_path.write_text(json.dumps(meta))
    assert build_engine(other, work, thresholds=EVERY_ACTIVITY).familiarity is None
    (other / "familiarity" / "user_tokens.parquet").write_bytes(b"not parquet")  # unreadable: served without
    assert build_engine(other, work, thresholds=EVERY_ACTIVITY).familiarity is None
