"""Context tokens (sequences.context_tokens): learned on training events only, label-blind,
UNKNOWN for values never seen, identical after a JSON round trip and in the live engine."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from neighborwatch.data.schema import conform_events
from neighborwatch.data.synth import synthesize
from neighborwatch.pipeline import prepare_work
from neighborwatch.sequences.build import (
    build_sequences,
    load_config,
    load_sequences,
    load_tokenizer,
)
from neighborwatch.sequences.context_tokens import ContextTokenizer
from neighborwatch.sequences.tokenize import tokenizer_from_json

MONDAY = datetime(2010, 1, 4)


def _events(rows: list[tuple]) -> pl.DataFrame:
    """(time, user, host, source, action, **details) rows → canonical events."""
    recs = []
    for i, (t, user, host, source, action, *extra) in enumerate(rows):
        rec = {"event_id": f"e{i}", "time": t, "user": user, "host": host, "source": source, "action": action}
        rec.update(extra[0] if extra else {})
        recs.append(rec)
    return conform_events(pl.DataFrame(recs, infer_schema_length=None))


def _office(weeks: int = 3) -> list[tuple]:
    """Day worker A (9-17 on PC-A), night worker B (22-06 on PC-B), C/D/E share PC-S; web groups."""
    rows = []
    for d in range(7 * weeks):
        day = MONDAY + timedelta(days=d)
        if day.weekday() >= 5:
            continue
        for h in range(9, 17):
            t = day + timedelta(hours=h)
            rows += [
                (t, "A", "PC-A", "logon", "Logon"),
                (t + timedelta(minutes=5), "A", "PC-A", "http", "WWW Visit", {"domain": f"news{h % 3}.com"}),
                (t + timedelta(minutes=9), "A", "PC-A", "file", "File Open", {"filename": "C:\\x.doc"}),
            ]
        for h in (22, 23, 0, 1, 2, 3, 4, 5):
            t = day + timedelta(hours=h)
            rows += [
                (t, "B", "PC-B", "logon", "Logon"),
                (t + timedelta(minutes=5), "B", "PC-B", "http", "WWW Visit", {"domain": f"job{h % 3}.com"}),
                (
                    t + timedelta(minutes=7),
                    "B",
                    "PC-B",
                    "email",
                    "Send",
                    {
                        "recipients": 1,
                        "external_recipients": 1,
                        "attachments": 1,
                        "external_sender": "bee@home.net",  # B mails friends from home
                        "external_addresses": "friend@out.com",
                    },
                ),
            ]
        for u in ("C", "D", "E"):
            for h in (10, 11, 12, 13, 14, 15):
                t = day + timedelta(hours=h, minutes=20)
                rows += [
                    (t, u, f"PC-{u}", "logon", "Logon"),
                    (t + timedelta(minutes=1), u, "PC-S", "logon", "Logon"),
                    (
                        t + timedelta(minutes=2),
                        u,
                        f"PC-{u}",
                        "http",
                        "WWW Visit",
                        {"domain": f"news{h % 3}.com" if u != "E" else f"job{h % 3}.com"},
                    ),
                ]
    return rows


@pytest.fixture(scope="module")
def office() -> tuple[ContextTokenizer, pl.DataFrame]:
    ev = _events(_office())
    return ContextTokenizer(domain_clusters=2, min_count=3, shared_users=2).fit(ev), ev


def _decode(tok: ContextTokenizer, events: pl.DataFrame) -> list[str]:
    return [tok.decode(int(t))[0] for t in tok.transform(events)]


def test_time_class_follows_the_users_own_habit(office):
    tok, _ = office
    tuesday_2am, tuesday_10am, saturday_10am = (
        MONDAY + timedelta(days=1, hours=2),
        MONDAY + timedelta(days=1, hours=10),
        MONDAY + timedelta(days=5, hours=10),
    )
    probe = _events(
        [
            (tuesday_2am, "A", "PC-A", "logon", "Logon"),
            (tuesday_2am, "B", "PC-B", "logon", "Logon"),
            (tuesday_10am, "A", "PC-A", "logon", "Logon"),
            (tuesday_10am, "B", "PC-B", "logon", "Logon"),
            (saturday_10am, "A", "PC-A", "logon", "Logon"),
        ]
    )
    assert _decode(tok, probe) == [
        "logon/Logon/own @ night",
        "logon/Logon/own @ usual",
        "logon/Logon/own @ usual",
        "logon/Logon/own @ outside",
        "logon/Logon/own @ weekend",
    ]


def test_host_is_own_shared_or_another_users(office):
    tok, _ = office
    t = MONDAY + timedelta(days=1, hours=12)
    probe = _events(
        [
            (t, "C", "PC-C", "logon", "Logon"),
            (t, "C", "PC-S", "logon", "Logon"),
            (t, "C", "PC-A", "logon", "Logon"),
            (t, "C", "PC-NEW", "logon", "Logon"),
        ]
    )
    keys = [k.split(" @ ")[0] for k in _decode(tok, probe)]
    # own and shared are in the vocabulary; C never used A's PC or a new one in training
    assert keys[:2] == ["logon/Logon/own", "logon/Logon/shared"]
    assert keys[2:] == ["logon/UNKNOWN", "logon/UNKNOWN"]
    st = tok.to_json()
    assert st["own_host"] == {"A": "PC-A", "B": "PC-B", "C": "PC-C", "D": "PC-D", "E": "PC-E"}
    assert st["shared_hosts"] == ["PC-S"]


def test_users_absent_from_training_are_profiled_from_their_profile_events(office):
    # a held-out user (F) has no training events but months of logs before the test cut: with
    # them as profile events F's PC is F's own and F's evening shift is F's habit
    tok, ev = office
    f_rows = [
        (MONDAY + timedelta(days=d, hours=h, minutes=m), "F", "PC-F", "logon", "Logon")
        for d in range(14)
        if (MONDAY + timedelta(days=d)).weekday() < 5
        for h in (18, 19, 20)
        for m in (0, 30)
    ]
    profile = pl.concat([ev, _events(f_rows)])
    profiled = ContextTokenizer(domain_clusters=2, min_count=3, shared_users=2).fit(ev, profile_events=profile)
    probe = _events([(MONDAY + timedelta(days=15, hours=19), "F", "PC-F", "logon", "Logon")])
    assert _decode(tok, probe) == ["logon/UNKNOWN @ outside"]  # training only: unknown host, org habit
    assert _decode(profiled, probe) == ["logon/Logon/own @ usual"]
    # the vocabulary and everything else learned from events stays the training events'
    same = ("keys", "counts", "domain_class", "extensions", "shared_hosts", "known_hosts")
    assert {k: profiled.to_json()[k] for k in same} == {k: tok.to_json()[k] for k in same}
    assert profiled.to_json()["own_host"] == {**tok.to_json()["own_host"], "F": "PC-F"}


def test_web_categories_come_from_co_visitation(office):
    tok, _ = office
    classes = tok.to_json()["domain_class"]
    news, jobs = {classes[f"news{i}.com"] for i in range(3)}, {classes[f"job{i}.com"] for i in range(3)}
    assert len(news) == 1 and len(jobs) == 1 and news != jobs  # no domain names hard-coded anywhere


def test_values_never_seen_in_training_get_their_types_unknown_token(office):
    tok, _ = office
    t = MONDAY + timedelta(days=1, hours=10)
    probe = _events(
        [
            (t, "A", "PC-A", "http", "WWW Visit", {"domain": "brand-new.org"}),
            (t, "A", "PC-A", "file", "File Write", {"filename": "R:\\x.exe", "to_removable": True}),
            (t, "A", "PC-A", "device", "Connect"),
            (t, "ZZZ", "PC-ZZZ", "email", "Send", {"external_recipients": 0, "attachments": 0}),
            (t, "A", "PC-A", "http", "WWW Visit", {"domain": "news1.com"}),
        ]
    )
    probe = probe.with_columns(pl.Series("source", ["http", "file", "device", "email", "vpn"]))
    keys = [k.split(" @ ")[0] for k in _decode(tok, probe)]
    assert keys == ["http/UNKNOWN", "file/UNKNOWN", "device/UNKNOWN", "email/UNKNOWN", "other/UNKNOWN"]
    assert (tok.transform(probe) > 0).all() and (tok.transform(probe) < tok.vocab_size).all()


def test_work_mail_to_the_users_own_private_address(office):
    tok, _ = office
    assert tok.state["own_addresses"] == {"B": ["bee@home.net"]}
    t = MONDAY + timedelta(days=1, hours=23)

    def mail(user: str, host: str, sender: str | None, to: str) -> tuple:
        detail = {"recipients": 1, "external_recipients": 1, "attachments": 1, "external_addresses": to}
        return (t, user, host, "email", "Send", detail | ({"external_sender": sender} if sender else {}))

    probe = _events(
        [
            mail("B", "PC-B", None, "x@y.com;bee@home.net"),  # work address → B's own mailbox
            mail("B", "PC-B", "bee@home.net", "bee@home.net"),  # from home to home: routine
            mail("B", "PC-B", None, "friend@out.com"),  # work address → someone else
            mail("A", "PC-A", None, "bee@home.net"),  # not A's own address
        ]
    )
    routine = "email/Send/own/external/attachment"
    assert tok._keys(probe).to_list() == ["email/Send/own/own-private/attachment"] + [routine] * 3
    keys = [tok.state["keys"][i] for i in tok.key_indices(probe)]
    assert keys == ["email/UNKNOWN"] + [routine] * 3  # never in training, so not in the vocabulary


def test_a_tokenizer_saved_before_own_addresses_still_loads(office):
    tok, ev = office
    old = tok.to_json()
    del old["own_addresses"]
    loaded = ContextTokenizer.from_json(old)
    assert loaded.state is not None and loaded.state["own_addresses"] == {}
    assert np.array_equal(loaded.transform(ev), tok.transform(ev))  # no work mail to a home address


def test_slices_give_the_whole_frames_tokens_and_vocabulary(office, monkeypatch):
    import neighborwatch.sequences.context_tokens as ct

    tok, ev = office
    whole, vocab = tok.transform(ev), tok.to_json()
    assert ev.height > 37 * 10
    monkeypatch.setattr(ct, "CHUNK_ROWS", 37)  # memory bound on large WORKs: same result in slices
    sliced = ContextTokenizer(domain_clusters=2, min_count=3, shared_users=2).fit(ev)
    assert sliced.to_json() == vocab
    assert np.array_equal(sliced.transform(ev), whole)
    assert np.array_equal(tok.transform(ev), whole)


def test_json_round_trip_and_refit_give_identical_tokens(office):
    tok, ev = office
    again = tokenizer_from_json(json.loads(json.dumps(tok.to_json())))
    assert isinstance(again, ContextTokenizer) and again.vocab_size == tok.vocab_size
    assert np.array_equal(again.transform(ev), tok.transform(ev))
    refit = ContextTokenizer(domain_clusters=2, min_count=3, shared_users=2).fit(ev)
    assert refit.to_json() == tok.to_json()
    counts = tok.to_json()["counts"]
    assert sum(counts.values()) == ev.height  # every training event counted under one key


# ---------------------------------------------------------------- in the pipeline (synthetic CERT)
@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ctx")
    synthesize("r5.2", 20, "2010-01-04", "2010-03-08", 3, root / "raw")
    prepare_work(root / "raw", root / "work", tokens="context")
    return root / "work"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_prepare_records_the_context_vocabulary(work):
    cfg = load_config(work)
    assert cfg["tokenizer"]["type"] == "context"
    # + padding 0, + the start-of-session token
    assert cfg["vocab_size"] == len(cfg["tokenizer"]["keys"]) * len(cfg["tokenizer"]["time_classes"]) + 2
    seqs = load_sequences(work)
    assert seqs.vocab_size == cfg["vocab_size"]
    assert seqs.tokens.min() >= 1 and seqs.tokens.max() < seqs.vocab_size
    assert seqs.extra["tokenizer"] == cfg["tokenizer"]  # travels into the model folder
    # habits and domain classes: learned from training, not hard-coded
    assert cfg["tokenizer"]["usual_hours"] and cfg["tokenizer"]["domain_class"]


def _rewritten(events: pl.DataFrame, when: pl.Expr) -> pl.DataFrame:
    """Every event where `when` holds moved to a new host (and its web visits to a new domain)."""
    return events.with_columns(
        pl.when(when).then(pl.lit("PC-9999")).otherwise(pl.col("host")).alias("host"),
        pl.when(when & pl.col("domain").is_not_null())
        .then(pl.lit("never-seen.example"))
        .otherwise(pl.col("domain"))
        .alias("domain"),
    )


#: what the context tokenizer learns from the training events alone (the key counts and the shared
#: hosts also depend on each user's own host, a per-user fact of the profile events)
FROM_TRAINING = ("domain_class", "extensions", "known_hosts")


def test_label_blind_and_training_period_only(work, tmp_path):
    # the validation period rule: training is exactly what precedes val_start (with held-out
    # validation users the training users are chosen insider-stratified, i.e. by the labels)
    copy = tmp_path / "w"
    shutil.copytree(work, copy)
    build_sequences(copy, tokenizer="context", validation="period")
    cfg = load_config(copy)
    val_start = datetime.fromisoformat(cfg["split"]["val_start"])
    test_start = datetime.fromisoformat(cfg["split"]["test_start"])
    labels = _digest(copy / "labels.parquet")
    original = pl.read_parquet(copy / "events.parquet")
    # change the test period and drop the labels: nothing of the tokenizer may move
    _rewritten(original, pl.col("time") >= test_start).write_parquet(copy / "events.parquet")
    build_sequences(copy, tokenizer="context", validation="period")
    assert _digest(copy / "labels.parquet") == labels
    (copy / "labels.parquet").unlink()
    build_sequences(copy, tokenizer="context", validation="period")
    assert load_config(copy)["tokenizer"] == cfg["tokenizer"]
    # change everything after the training period: web classes, extensions and hosts stay, and a
    # domain first seen there is unknown (the validation month only profiles users)
    later = pl.col("time") >= val_start
    ev = _rewritten(original, later)
    ev.write_parquet(copy / "events.parquet")
    build_sequences(copy, tokenizer="context", validation="period")
    moved = load_config(copy)["tokenizer"]
    assert {k: moved[k] for k in FROM_TRAINING} == {k: cfg["tokenizer"][k] for k in FROM_TRAINING}
    assert moved["own_host"] != cfg["tokenizer"]["own_host"]  # the month of PC-9999 logs counts there
    tok = load_tokenizer(copy)
    web = ev.filter(later & (pl.col("source") == "http"))
    assert web.height and {tok.decode(int(t))[0].split(" @ ")[0] for t in tok.transform(web)} == {"http/UNKNOWN"}


def test_held_out_users_are_profiled_from_their_logs_before_the_test_cut(work, tmp_path):
    copy = tmp_path / "w"
    shutil.copytree(work, copy)
    build_sequences(copy, tokenizer="context", validation="users")
    cfg = load_config(copy)
    held_out = set(cfg["validation"]["users"])
    tok = cfg["tokenizer"]
    assert held_out and held_out <= set(tok["own_host"]) and held_out <= set(tok["usual_hours"])
    # profiled, yet never trained on
    seqs = load_sequences(copy)
    train_users = set(seqs.split("train").meta["user"].cast(pl.Utf8).to_list())
    assert not held_out & train_users


def test_streaming_computes_the_batch_tokens(work):
    from neighborwatch.streaming.engine import Engine, EngineConfig
    from neighborwatch.streaming.events import parse_event
    from neighborwatch.streaming.loader import tokenizer_for
    from neighborwatch.streaming.scorer import BigramScorer

    seqs = load_sequences(work)
    tok, collapse = tokenizer_for(None, work)  # type: ignore[arg-type]
    engine = Engine(
        BigramScorer.fit(seqs.split("train")), tok.transform, tok.decode, config=EngineConfig(collapse=collapse)
    )
    ev = pl.read_parquet(work / "events.parquet").head(4000)
    batch = dict(zip(ev["event_id"].to_list(), load_tokenizer(work).transform(ev).tolist()))
    dicts = [
        {k: v for k, v in r.items() if v is not None} | {"time": r["time"].isoformat()}
        for r in ev.iter_rows(named=True)
    ]
    recs = []
    for i in range(0, len(dicts), 500):
        recs += engine.submit([parse_event(d) for d in dicts[i : i + 500]]).records
    recs += engine.flush().records
    live = {r["event_id"]: r["token"] for r in recs}
    assert len(live) == ev.height and live == batch
    assert len(set(batch.values())) > 20  # a real mix of context tokens, not one constant
