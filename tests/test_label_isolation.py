"""Labels reach nothing but the training loss, the metrics and, once every validation choice is
made, the history of the users held out for validation (their validation events that the
validation labels call normal; `test_user_novelty` shows the test period's labels reach no score).

Two places could leak ground truth into what a detector sees:

1. building the inputs (`sequences.build`): the paper's reference code keeps a repeated activity
   when it is labelled malicious, so its collapsed test sequences depend on the answers. Here the
   sequences of a WORK folder are built three times — with the true labels, with different
   labels, and with a labels file that is not even Parquet — and must be identical; meanwhile a
   spy on every Parquet/file reader records that labels.parquet is never opened.
2. scoring in the protocol: the SequenceSets handed to a detector and the scores it returns must
   not change when the labels change, while the metrics do (so the labels demonstrably reached the
   metrics, and only them).
"""

from __future__ import annotations

import builtins
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from neighborwatch.data.schema import conform_events
from neighborwatch.evaluation import protocol as P
from neighborwatch.sequences.base import SequenceSet
from neighborwatch.workdir import WorkDir, write_json
from test_protocol import TokenFrequency, make_toy_work

LABEL_WORDS = ("label", "malicious", "scenario", "insider")


# -- a spy on everything that could open a file ----------------------------------------------
class ReadSpy:
    """Records the paths passed to Parquet readers and open(); raises on labels.parquet."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, forbidden: Path) -> None:
        import pyarrow.parquet as pq

        self.paths: list[str] = []
        self.forbidden = forbidden.resolve()
        for mod, names in (
            (pl, ("read_parquet", "scan_parquet", "read_parquet_schema", "read_parquet_metadata")),
            (pq, ("read_table", "ParquetFile", "read_schema", "read_metadata")),
            (builtins, ("open",)),
            (np, ("load",)),
        ):
            for name in names:
                if hasattr(mod, name):
                    monkeypatch.setattr(mod, name, self._wrap(getattr(mod, name)))

    def _wrap(self, fn):
        def spy(source, *args, **kwargs):
            if isinstance(source, (str, Path)):
                self.paths.append(str(source))
                if Path(source).resolve() == self.forbidden:
                    raise AssertionError(f"labels read by input building or scoring: {source}")
            return fn(source, *args, **kwargs)

        return spy


def _assert_no_label_fields(seqs: SequenceSet) -> None:
    cols = [c.lower() for c in seqs.meta.columns] + [str(k).lower() for k in seqs.extra]
    assert not [c for c in cols if any(w in c for w in LABEL_WORDS)], cols


def _assert_same(a: SequenceSet, b: SequenceSet, split_too: bool = True) -> None:
    for name in ("tokens", "offsets", "event_rows", "times", "repeats", "raw_rows", "raw_times"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    keep = a.meta.columns if split_too else [c for c in a.meta.columns if c != "split"]
    assert a.meta.select(keep).equals(b.meta.select(keep))
    assert a.extra == b.extra


# -- 1. input building -----------------------------------------------------------------------
def _events(seed: int = 0) -> pl.DataFrame:
    """Small CERT-like logs: 4 users × 40 working days, with repeated activities to collapse."""
    rng = np.random.default_rng(seed)
    rows = []
    day0 = np.datetime64("2010-01-04T00:00", "s")
    for d in range(40):
        for u in range(4):
            t = day0 + np.timedelta64(d * 86400 + int(rng.integers(7, 10)) * 3600, "s")
            seq = [("logon", "Logon")]
            for _ in range(int(rng.integers(2, 8))):
                src = str(rng.choice(["http", "email", "file", "device"]))
                act = {"http": "WWW Visit", "email": "Send", "file": "File Open"}.get(src, "Connect")
                seq += [(src, act)] * int(rng.integers(1, 4))  # repeats: same word, same hour
            seq.append(("logon", "Logoff"))
            for src, act in seq:
                t = t + np.timedelta64(int(rng.integers(30, 900)), "s")
                rows.append((t.astype("datetime64[us]").item(), f"U{u}", f"PC-{u}", src, act))
    df = pl.DataFrame(rows, schema=["time", "user", "host", "source", "action"], orient="row")
    df = (
        df.sort("time")
        .with_row_index("i")
        .with_columns(pl.format("E{}", pl.col("i").cast(pl.Utf8).str.zfill(6)).alias("event_id"))
        .drop("i")
    )
    return conform_events(df)  # type: ignore[return-value]


def _labels(events: pl.DataFrame, rows: np.ndarray, scenario: int) -> pl.DataFrame:
    ids = events["event_id"].gather(rows.tolist())
    return pl.DataFrame(
        {
            "event_id": ids,
            "malicious": [True] * len(rows),
            "scenario": [scenario] * len(rows),
            "insider": events["user"].gather(rows.tolist()),
        },
        schema={"event_id": pl.Utf8, "malicious": pl.Boolean, "scenario": pl.Int8, "insider": pl.Utf8},
    )


@pytest.mark.parametrize("peer_start", [False, True], ids=["plain-start", "peer-start"])
def test_building_sequences_never_reads_labels(tmp_path, monkeypatch, peer_start) -> None:
    """Also with peer-group start tokens, fitted from the organisation table and training users."""
    build = pytest.importorskip("neighborwatch.sequences.build")
    events = _events()
    n = events.height
    # variant A: malicious = every second event of user U1 in the last 10 days (repeats included:
    # a collapse that kept malicious repeats, as the reference code does, would differ from B/C)
    late = (
        events.select(pl.col("time") >= pl.datetime(2010, 2, 1)).to_series().to_numpy()
        & (events["user"] == "U1").to_numpy()
    )
    variants = {
        "true": _labels(events, np.flatnonzero(late)[::2], 1),
        "other": _labels(events, np.arange(0, n, 3), 2),
        "garbage": None,  # not Parquet at all: any read of it would fail
        "absent": None,
    }
    built: dict[str, dict[str, SequenceSet]] = {}
    for name, labels in variants.items():
        work = WorkDir(tmp_path / name)
        work.root.mkdir()
        events.write_parquet(work.events)
        write_json(work.summary, {"format": "cert", "release": "r4.2"})
        if peer_start:  # two roles of two users; the held-out users below leave each role a training user
            pl.DataFrame({"user": ["U0", "U1", "U2", "U3"], "role": ["A", "B", "A", "B"]}).write_parquet(work.users)
        if labels is not None:
            labels.write_parquet(work.labels)
        elif name == "garbage":
            work.labels.write_bytes(b"these are not the labels you are looking for")
        with monkeypatch.context() as m:
            spy = ReadSpy(m, work.labels)
            build.build_sequences(
                work.root,
                collapse=True,
                val_start="2010-01-25",
                test_start="2010-02-08",
                validation="period",
                peer_start=peer_start,
            )
        assert spy.paths, "the spy saw no reads at all: it is not wired to the readers build uses"
        assert not [p for p in spy.paths if Path(p).name == "labels.parquet"]
        built[name] = {k: build.load_sequences(work.root, kind=k) for k in ("session", "day")}
    ref = built["true"]
    assert ref["session"].n_activities < n  # the collapse did remove repeats
    assert set(ref["session"].meta["split"].unique()) == {"train", "validation", "test"}
    for name in ("other", "garbage", "absent"):
        for kind in ("session", "day"):
            _assert_same(ref[kind], built[name][kind])
    for kind in ("session", "day"):
        _assert_no_label_fields(ref[kind])
    # held-out validation users: labels may choose WHO is held out (stratification), nothing else
    users_rule: dict[str, dict[str, SequenceSet]] = {}
    for name in ("true", "other", "absent"):
        work = WorkDir(tmp_path / name)
        build.build_sequences(
            work.root,
            collapse=True,
            test_start="2010-02-08",
            validation="users",
            validation_share=0.25,
            peer_start=peer_start,
        )
        users_rule[name] = {k: build.load_sequences(work.root, kind=k) for k in ("session", "day")}
    for name in ("other", "absent"):
        for kind in ("session", "day"):
            _assert_same(users_rule["true"][kind], users_rule[name][kind], split_too=False)
    if peer_start:  # the start tokens name the two roles (and they are the only start tokens)
        seqs = ref["session"]
        assert seqs.start_tokens == 3 and set(seqs.tokens[seqs.is_start()].tolist()) == {seqs.bos + 1, seqs.bos + 2}
    split = users_rule["true"]["session"].meta["split"]
    assert set(split.unique()) == {"train", "calibration", "validation", "test"}


def test_familiarity_profile_never_reads_labels(tmp_path, monkeypatch) -> None:
    """The alerts' familiarity profile (an input-side artefact: training events + LDAP) is the same
    whatever labels.parquet holds, and building it never opens that file."""
    build = pytest.importorskip("neighborwatch.sequences.build")
    from neighborwatch.sequences.familiarity import build_familiarity

    events = _events()
    org = pl.DataFrame({"user": ["U0", "U1", "U2"], "role": ["Clerk", "Clerk", None], "department": ["A", "A", "B"]})
    profiles = {}
    for name, labels in (("true", _labels(events, np.arange(0, events.height, 4), 1)), ("garbage", None)):
        work = WorkDir(tmp_path / name)
        work.root.mkdir()
        events.write_parquet(work.events)
        org.write_parquet(work.users)
        write_json(work.summary, {"format": "cert", "release": "r4.2"})
        if labels is not None:
            labels.write_parquet(work.labels)
        else:
            work.labels.write_bytes(b"not parquet")
        build.build_sequences(work.root, val_start="2010-01-25", test_start="2010-02-08", validation="period")
        with monkeypatch.context() as m:
            spy = ReadSpy(m, work.labels)
            profiles[name] = build_familiarity(work.root)
        assert any(Path(p).name == "users.parquet" for p in spy.paths)  # the spy saw the reads
        cols = [c.lower() for t in ("users", "user_tokens", "peer_tokens") for c in getattr(profiles[name], t).columns]
        assert not [c for c in cols if any(w in c for w in LABEL_WORDS)], cols
    a, b = profiles["true"], profiles["garbage"]
    for table in ("users", "user_tokens", "peer_tokens"):
        assert getattr(a, table).equals(getattr(b, table)), table
    assert a.meta == b.meta and a.meta["training_events"] > 0


# -- 2. scoring in the protocol --------------------------------------------------------------
class Recorder(TokenFrequency):
    """Records what it is given (TokenFrequency keeps every scored set in `seen`)."""

    name = "label-isolation-recorder"

    def score_activities(self, seqs):
        _assert_no_label_fields(seqs)
        return super().score_activities(seqs)


def test_scores_and_detector_inputs_do_not_depend_on_labels(tmp_path, monkeypatch) -> None:
    work, data = make_toy_work(tmp_path / "true")
    results, seen = [], []
    for variant in ("true", "shuffled", "garbage"):
        w = WorkDir(tmp_path / variant)
        if variant != "true":
            shutil.copytree(work.root, w.root)
        if variant == "shuffled":  # as many malicious events, but other ones
            lab = pl.read_parquet(w.labels)
            ev = pl.read_parquet(w.events, columns=["event_id"])
            rng = np.random.default_rng(5)
            other = ev["event_id"].gather(rng.choice(ev.height, lab.height, replace=False).tolist())
            lab.with_columns(other.alias("event_id")).write_parquet(w.labels)
        ev_data = P.load_eval_data(w.root)  # the metrics' side: the one place labels are read
        if variant == "garbage":
            w.labels.write_bytes(b"not parquet")  # any later read would fail
        det = Recorder().fit(data["train"][0])
        with monkeypatch.context() as m:
            ReadSpy(m, w.labels)  # raises if scoring opens labels.parquet
            results.append(P.evaluate_on(det, ev_data, keep_scores=True))
        seen.append(det.seen)
    ref_res, ref_seen = results[0], seen[0]
    # validation + test, for sessions and for user-days (the calibration window here holds only
    # validation sessions: their validation scores are reused)
    assert len(ref_seen) == 4
    for res, s in zip(results[1:], seen[1:]):
        assert len(s) == len(ref_seen)
        for a, b in zip(ref_seen, s):
            _assert_same(a, b)
        for level in ("realtime", "session", "day", "realtime_calibration", "realtime_activities"):
            np.testing.assert_array_equal(ref_res["arrays"][level]["scores"], res["arrays"][level]["scores"])
    # ... while the metrics did see the different labels
    assert results[1]["levels"]["realtime"]["auc"] != pytest.approx(ref_res["levels"]["realtime"]["auc"])


def test_the_spy_catches_a_leak(tmp_path, monkeypatch) -> None:
    """The guard itself can fail: a scorer that peeks at labels.parquet is caught."""
    work, data = make_toy_work(tmp_path / "w")

    class Leaky(TokenFrequency):
        name = "leaky"

        def score_activities(self, seqs):
            pl.read_parquet(work.labels)
            return super().score_activities(seqs)

    ev_data = P.load_eval_data(work.root)
    with monkeypatch.context() as m:
        ReadSpy(m, work.labels)
        with pytest.raises(AssertionError, match="labels read"):
            P.evaluate_on(Leaky().fit(data["train"][0]), ev_data, levels=("realtime",))
