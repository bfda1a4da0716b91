"""The validation-then-test protocol, on toy sequences and a token-frequency detector.

`make_toy_work` and `TokenFrequency` are reused by the report and label-isolation tests.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from neighborwatch.evaluation import protocol as P
from neighborwatch.models.base import Detector
from neighborwatch.models.registry import register, write_manifest
from neighborwatch.sequences.base import META_SCHEMA, SequenceSet
from neighborwatch.sequences.toy import toy_data
from neighborwatch.workdir import WorkDir


@register
class TokenFrequency(Detector):
    """Score = -log of the token's smoothed training frequency (rare = anomalous).

    Like a next-activity model it leaves the first activity of each sequence unscored (NaN),
    so the protocol's handling of unscored positions is exercised.
    """

    name = "token-frequency"

    def __init__(self) -> None:
        self.logp: np.ndarray | None = None
        self.seen: list[SequenceSet] = []  # every set passed to a scoring method, in order

    def fit(self, train, train_labels=None, validation=None, validation_labels=None):
        counts = np.bincount(train.tokens, minlength=train.vocab_size).astype(float) + 1.0
        self.logp = np.log(counts / counts.sum())
        return self

    def score_activities(self, seqs: SequenceSet) -> np.ndarray:
        self.seen.append(seqs)
        assert self.logp is not None
        s = -self.logp[seqs.tokens]
        s[seqs.offsets[:-1][seqs.lengths > 0]] = np.nan
        return s

    def save(self, path) -> None:
        assert self.logp is not None
        write_manifest(path, self.name, {"seed": 3})
        (Path(path) / "logp.json").write_text(json.dumps(self.logp.tolist()))

    @classmethod
    def load(cls, path) -> TokenFrequency:
        det = cls()
        det.logp = np.array(json.loads((Path(path) / "logp.json").read_text()))
        return det


class SequenceOnly(TokenFrequency):
    """A post-hoc-only detector: the real-time level must be skipped, not crash."""

    name = "sequence-only"

    def score_activities(self, seqs):
        raise NotImplementedError("post-hoc only")

    def score_sequences(self, seqs):
        assert self.logp is not None
        return np.array([-self.logp[seqs.sequence(i)].mean() for i in range(len(seqs))])


def _concat(parts: list[SequenceSet], kind: str) -> SequenceSet:
    lengths = np.concatenate([p.lengths for p in parts])
    meta = pl.concat([p.meta for p in parts]).with_columns(
        pl.arange(0, int(sum(len(p) for p in parts)), dtype=pl.Int64).alias("seq_id")
    )
    return SequenceSet(
        tokens=np.concatenate([p.tokens for p in parts]),
        offsets=np.concatenate([[0], np.cumsum(lengths)]),
        event_rows=np.concatenate([p.event_rows for p in parts]),
        times=np.concatenate([p.times for p in parts]),
        meta=meta,
        kind=kind,
    )


def _days(sessions: SequenceSet) -> SequenceSet:
    """Group sessions into user-days (order: by user, then day)."""
    day = sessions.times[sessions.offsets[:-1]] // 86_400_000_000
    users = sessions.meta["user"].to_list()
    groups: dict[tuple[str, int], list[int]] = {}
    for i, key in enumerate(zip(users, day.tolist())):
        groups.setdefault(key, []).append(i)
    idx, lengths, rows = [], [], []
    for (user, _), members in sorted(groups.items()):
        pos = np.concatenate([np.arange(sessions.offsets[m], sessions.offsets[m + 1]) for m in members])
        idx.append(pos)
        lengths.append(len(pos))
        first, last = sessions.times[pos[0]], sessions.times[pos[-1]]
        rows.append(
            {
                "user": user,
                "host": None,
                "start": first,
                "end": last,
                "length": len(pos),
                "split": sessions.meta["split"][members[0]],
            }
        )
    idx_all = np.concatenate(idx)
    meta = pl.DataFrame(
        {
            "seq_id": np.arange(len(rows)),
            "user": [r["user"] for r in rows],
            "host": [None] * len(rows),
            "start": np.array([r["start"] for r in rows]).astype("datetime64[us]"),
            "end": np.array([r["end"] for r in rows]).astype("datetime64[us]"),
            "length": np.array(lengths, dtype=np.int32),
            "split": [r["split"] for r in rows],
        },
        schema=META_SCHEMA,
    )
    return SequenceSet(
        tokens=sessions.tokens[idx_all],
        offsets=np.concatenate([[0], np.cumsum(lengths)]),
        event_rows=sessions.event_rows[idx_all],
        times=sessions.times[idx_all],
        meta=meta,
        kind="day",
    )


def make_toy_work(root: Path, seed: int = 0) -> tuple[WorkDir, dict]:
    """A WORK folder (events, labels, session + day sequences) built from `toy_data`.

    Returns the WorkDir and the toy splits; flat labels are written ONLY to labels.parquet.
    """
    data = toy_data(seed=seed)
    parts, labels, offset = [], [], 0
    for name in ("train", "validation", "test"):
        seqs, lab = data[name]
        seqs = SequenceSet(
            tokens=seqs.tokens,
            offsets=seqs.offsets,
            event_rows=seqs.event_rows + offset,
            times=seqs.times,
            meta=seqs.meta,
            kind="session",
        )
        offset += seqs.n_activities
        parts.append(seqs)
        labels.append(lab)
    sessions = _concat(parts, "session")
    y = np.concatenate(labels)
    n = sessions.n_activities
    users = sessions.meta["user"].to_numpy()[sessions.seq_index()]
    work = WorkDir(root)
    root.mkdir(parents=True, exist_ok=True)
    events = pl.DataFrame(
        {
            "event_id": [f"E{r:06d}" for r in range(n)],
            "time": sessions.times.astype("datetime64[us]"),
            "user": users,
            "host": ["PC"] * n,
            "source": ["logon"] * n,
            "action": ["Logon"] * n,
        }
    )
    events.write_parquet(work.events)
    mal = np.flatnonzero(y)
    pl.DataFrame(
        {
            "event_id": [f"E{r:06d}" for r in mal],
            "malicious": [True] * len(mal),
            "scenario": [1 + (r % 2) for r in mal],
            "insider": [f"ins-{users[r]}" for r in mal],
        },
        schema={"event_id": pl.Utf8, "malicious": pl.Boolean, "scenario": pl.Int8, "insider": pl.Utf8},
    ).write_parquet(work.labels)
    sessions.save(work.sequence_set("session"))
    _days(sessions).save(work.sequence_set("day"))
    (work.sequences / "config.json").write_text(
        json.dumps(
            {
                "split": {"val_start": "2010-04-14T00:00:00", "test_start": "2010-07-23T00:00:00", "rule": "override"},
                "tokenizer": {"type": "word-hour"},
                "collapse": False,
            }
        )
    )
    return work, data


@pytest.fixture(scope="module")
def toy_work(tmp_path_factory) -> tuple[WorkDir, dict]:
    return make_toy_work(tmp_path_factory.mktemp("work"))


def test_evaluate_detector_levels_and_counts(toy_work) -> None:
    work, data = toy_work
    det = TokenFrequency().fit(data["train"][0])
    res = P.evaluate_detector(det, work.root, seed=7)
    test_seqs, test_y = data["test"]
    rt = res["levels"]["realtime"]
    assert rt["status"] == "ok"
    # every non-first activity is scored; the first of each session is counted as unscored
    assert rt["counts"]["unscored"] == len(test_seqs)
    assert rt["counts"]["items"] == test_seqs.n_activities - len(test_seqs)
    first = np.zeros(test_seqs.n_activities, dtype=bool)
    first[test_seqs.offsets[:-1]] = True
    assert rt["counts"]["positives"] == int((test_y & ~first).sum())
    ses = res["levels"]["session"]
    assert ses["counts"]["items"] == len(test_seqs)
    assert ses["counts"]["positives"] == int(np.add.reduceat(test_y, test_seqs.offsets[:-1]).astype(bool).sum())
    assert res["levels"]["day"]["status"] == "ok"
    # the planted anomaly uses rare tokens: a frequency scorer separates it well
    assert rt["auc"] > 0.9 and ses["auc"] > 0.9
    for lv in res["levels"].values():
        assert lv["threshold"]["chosen_on"] == "validation"
        assert lv["test_optimal"]["note"] == P.TEST_OPTIMAL_NOTE
        assert 0.0 <= lv["dr@5%"] <= lv["dr@10%"] <= lv["dr@15%"] <= 1.0
        assert {r["scenario"] for r in lv["per_scenario"]} <= {1, 2}
    # provenance
    cfg = res["config"]
    assert cfg["seed"] == 7 and cfg["split_dates"]["test_start"] == "2010-07-23T00:00:00"
    assert cfg["sequences"] == {"tokenizer": "word-hour", "collapse": False}
    assert cfg["work"] == str(work.root.resolve())
    # time-to-detect: one row per insider id found in labels.parquet's insider column
    insiders = {r["insider"] for r in res["time_to_detect"]}
    assert insiders and all(i.startswith("ins-") for i in insiders)


def test_threshold_comes_from_validation_not_test(toy_work) -> None:
    work, data = toy_work
    det = TokenFrequency().fit(data["train"][0])
    res = P.evaluate_detector(det, work.root, levels=("realtime",))
    val_seqs, val_y = data["validation"]
    val_scores = TokenFrequency().fit(data["train"][0]).score_activities(val_seqs)
    expected = P.choose_threshold(val_y, val_scores)["value"]
    assert res["levels"]["realtime"]["threshold"]["value"] == pytest.approx(expected)
    # ... and the detector saw validation before test, each exactly once
    assert [s.meta["split"][0] for s in det.seen] == ["validation", "test"]


class LearnsUsers(TokenFrequency):
    """Records when the protocol hands it the validation users, between the scoring calls."""

    name = "learns-users"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def score_activities(self, seqs: SequenceSet) -> np.ndarray:
        self.calls.append(seqs.meta["split"][0])
        return super().score_activities(seqs)

    def learn_new_users(self, seqs: SequenceSet, labels: np.ndarray) -> int:
        self.calls.append("learn")
        self.learned = (seqs, labels)
        return 1


@pytest.mark.parametrize("learn", [True, False])
def test_held_out_users_are_learned_after_every_threshold_and_before_the_test(toy_work, learn) -> None:
    work, data = toy_work
    det = LearnsUsers().fit(data["train"][0])
    res = P.evaluate_on(det, P.load_eval_data(work.root), levels=("realtime",), learn_new_users=learn)
    assert det.calls == (["validation", "learn", "test"] if learn else ["validation", "test"])
    if learn:  # the validation sessions with their own labels, never a test sequence
        seqs, labels = det.learned
        val_seqs, val_y = data["validation"]
        assert set(seqs.meta["split"].to_list()) == {"validation"} and len(seqs) == len(val_seqs)
        assert np.array_equal(labels, val_y)
    assert ("1 user(s)" in res["protocol"]["new_users_learned"]) == learn


def test_evaluate_scores_matches_metrics_on_arrays() -> None:
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0], dtype=bool)
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    out = P.evaluate_scores(y, s, threshold=0.65)
    assert out["auc"] == pytest.approx(19 / 24)
    assert (out["dr"], out["fpr"]) == (0.5, pytest.approx(1 / 6))
    assert out["test_optimal"]["threshold"] == pytest.approx(0.6)
    assert out["dr@5%"] == 0.25


def test_level_the_detector_lacks_is_skipped(toy_work) -> None:
    work, data = toy_work
    res = P.evaluate_detector(SequenceOnly().fit(data["train"][0]), work.root)
    assert res["levels"]["realtime"]["status"] == "skipped"
    assert "post-hoc only" in res["levels"]["realtime"]["reason"]
    assert res["levels"]["session"]["status"] == "ok"
    assert res["time_to_detect"] == []


def test_in_memory_data_without_positives_gives_nan_not_crash() -> None:
    data = toy_data(seed=1, anomaly_rate=0.0)
    det = TokenFrequency().fit(data["train"][0])
    ev = P.EvalData(sessions={n: P.Split(*data[n]) for n in ("validation", "test")})
    with pytest.warns(UserWarning):
        res = P.evaluate_on(det, ev)
    rt = res["levels"]["realtime"]
    assert rt["counts"]["positives"] == 0
    assert math.isnan(rt["auc"]) and math.isnan(rt["dr"]) and math.isnan(rt["dr@5%"])
    assert res["levels"]["day"]["status"] == "skipped"


def test_wrong_score_shape_is_a_clear_error() -> None:
    class Broken(TokenFrequency):
        def score_activities(self, seqs):
            return np.zeros(3)

    data = toy_data(seed=2)
    ev = P.EvalData(sessions={n: P.Split(*data[n]) for n in ("validation", "test")})
    with pytest.raises(ValueError, match="expected"):
        P.evaluate_on(Broken().fit(data["train"][0]), ev, levels=("realtime",))


def test_session_scores_reuse_realtime_scores_when_posthoc_is_the_default(toy_work) -> None:
    work, data = toy_work
    det = TokenFrequency().fit(data["train"][0])
    res = P.evaluate_detector(det, work.root, keep_scores=True)
    # sessions are scored once per split (validation, test); user-days once per split too; the
    # calibration window (here: validation sessions, all in the days before the test cut) reuses
    # their validation scores
    assert [(s.kind, s.meta["split"][0]) for s in det.seen] == [
        ("session", "validation"),
        ("day", "validation"),
        ("session", "test"),
        ("day", "test"),
    ]
    test_seqs = data["test"][0]
    expected = Detector.score_sequences(TokenFrequency().fit(data["train"][0]), test_seqs)
    np.testing.assert_allclose(res["arrays"]["session"]["scores"], expected)
    assert "aggregated" in res["protocol"]["session_scores"]
    # a detector with its own post-hoc score is asked for it
    res2 = P.evaluate_detector(SequenceOnly().fit(data["train"][0]), work.root)
    assert res2["protocol"]["session_scores"] == "detector.score_sequences"


def test_per_scenario_counts_unscored_malicious_items() -> None:
    y = np.array([1, 1, 0, 0, 1, 0], dtype=bool)
    s = np.array([np.nan, 0.9, 0.1, np.nan, 0.2, 0.3])
    out = P.evaluate_scores(y, s, threshold=0.5, test_scenarios=np.array([1, 1, 0, 0, 2, 0]))
    rows = {r["scenario"]: r for r in out["per_scenario"]}
    assert (rows[1]["positives"], rows[1]["unscored"], rows[1]["detected_at_threshold"]) == (2, 1, 1.0)
    assert (rows[2]["positives"], rows[2]["unscored"], rows[2]["detected_at_threshold"]) == (1, 0, 0.0)
    assert out["counts"] == {"items": 4, "positives": 2, "unscored": 2}


def test_alert_thresholds_are_calibrated_on_the_days_before_the_test_cut(tmp_path) -> None:
    """The test period scores the users the model knows on days it has not seen, next to the
    held-out users it never saw. The alert budget is calibrated on the same mix: every user's
    sequences of the days before the test cut that are not trained on (the calibration split and
    the held-out users' validation sequences of those days), scored before any test split and
    read without labels."""
    from neighborwatch.evaluation.evaluate import alerting_block
    from neighborwatch.sequences.build import load_config, load_sequences
    from streaming_fixtures import make_work

    work = make_work(tmp_path, seed=5, users=10, days=40)
    config = load_config(work)
    sessions = load_sequences(work, "session")
    train = sessions.split("train")
    det = TokenFrequency().fit(train)
    res = P.evaluate_detector(det, work, keep_scores=True, levels=("realtime",))
    # the held-out users' window sequences are validation sequences: scored once, their scores reused
    assert [set(s.meta["split"]) for s in det.seen] == [{"validation"}, {"calibration"}, {"test"}]
    cal = res["arrays"]["realtime_calibration"]
    held = set(config["validation"]["users"])
    us = lambda d: np.datetime64(d, "us").astype(np.int64)  # noqa: E731
    val_start, test_start = us(config["split"]["val_start"]), us(config["split"]["test_start"])
    start = sessions.meta["start"].cast(pl.Int64).to_numpy()
    split = sessions.meta["split"].to_numpy()
    window = (start >= val_start) & (start < test_start)
    assert (split[window] != "train").all() and (split[~window & (start < test_start)] != "calibration").all()
    assert cal["scores"].size == sessions.subset(np.flatnonzero(window)).n_activities > 0
    whole = TokenFrequency().fit(train).score_activities(sessions.subset(np.flatnonzero(window)))
    np.testing.assert_array_equal(cal["scores"], whole)  # the window as if scored in one piece
    users = set(cal["users"].tolist())
    assert held & users and users - held  # held-out users and the users the model trains on ...
    assert val_start <= cal["times"].min() and train.meta["start"].cast(pl.Int64).max() < val_start
    assert set(cal) == {"scores", "users", "times"}  # ... on days it does not: no labels
    block = alerting_block(res, budget_per_day=5.0)
    assert block["status"] == "ok" and block["calibrated_on"] == "calibration window"
    assert block["thresholds"]["calibration"]["users"] == len(users)


def test_the_alert_block_counts_what_the_live_engine_raises_on_the_test_period(tmp_path) -> None:
    """`evaluate`'s alerts block is the figure `serve` would give on the test period: the test
    sessions' events replayed through the live engine with the block's thresholds raise the same
    alerts and incidents. Live, a collapsed repeat raises no alert and moves no risk (the activity
    it repeats did), so the offline rules must run on the same activities, not on raw events."""
    from neighborwatch.evaluation.alerting import calibrate
    from neighborwatch.evaluation.evaluate import alerting_block
    from neighborwatch.models.registry import available
    from neighborwatch.sequences.build import load_sequences
    from neighborwatch.streaming.events import parse_event
    from neighborwatch.streaming.loader import build_engine
    from streaming_fixtures import events_as_dicts, small_work

    work = small_work()
    sessions = load_sequences(work, "session")
    det = available()["markov"].create(seed=0).fit(sessions.split("train"))
    res = P.evaluate_detector(det, work, keep_scores=True, levels=("realtime",))
    budget = 40.0  # incidents per 100 users per day: enough of them on this 8-user org
    block = alerting_block(res, budget_per_day=budget)
    assert block["status"] == "ok" and block["incidents"] >= 3
    cal = res["arrays"]["realtime_calibration"]
    th = calibrate(cal["scores"], cal["times"], cal["users"], budget, source="calibration window")
    assert (th.activity, th.risk) == (block["thresholds"]["activity"], block["thresholds"]["risk"])

    test = sessions.split("test")
    assert test.raw_counts().sum() > test.n_activities  # the test period has collapsed repeats
    events = pl.read_parquet(work / "events.parquet")[np.sort(test.raw_event_rows())]
    engine = build_engine(tmp_path, work, detector=det, thresholds=th)
    alerts = []
    dicts = events_as_dicts(events.sort("time"))
    for i in range(0, len(dicts), 64):
        alerts += engine.submit([parse_event(d) for d in dicts[i : i + 64]]).alerts
    alerts += engine.flush().alerts
    kinds = {k: sum(a["kind"] == k for a in alerts) for k in ("activity", "risk")}
    assert {k: block["alerts_by_kind"].get(k, 0) for k in kinds} == kinds
    assert len(engine.incidents.incidents) == block["incidents"]
