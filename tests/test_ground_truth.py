"""Ground truth from raw events (issue 8 §1): labels come from every raw event, the first activity
of a session is scored (BOS), collapsed repeats take the score of what they repeat, in batch and
streaming alike, and every malicious test event is scored."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from neighborwatch.evaluation import protocol as P
from neighborwatch.models.base import Detector
from neighborwatch.sequences.base import SequenceSet, activity_labels, raw_labels
from neighborwatch.sequences.build import build_sequences, load_sequences
from neighborwatch.sequences.tokenize import WordHourTokenizer
from test_build import hand_made_events, make_work


class NextTokenRarity(Detector):
    """A next-activity stand-in: NaN at position 0 (no prefix), token rarity elsewhere."""

    name = "rarity"

    def fit(self, train, train_labels=None, validation=None, validation_labels=None):
        self.counts = np.bincount(train.tokens, minlength=train.vocab_size) + 1.0
        return self

    def score_activities(self, seqs: SequenceSet) -> np.ndarray:
        out = 1.0 / self.counts[seqs.tokens]
        out[seqs.position_in_sequence() == 0] = np.nan
        return out


def _events() -> pl.DataFrame:
    return hand_made_events(datetime(2010, 11, 1), 75)  # spans the r4 cut 2011-01-01


def _test_session_ids(events: pl.DataFrame) -> list[str]:
    """Every event of user B's first test-period office session (Logon first, a repeated http)."""
    day = events.filter(
        (pl.col("time") >= datetime(2011, 1, 3)) & (pl.col("user") == "BBB0002") & (pl.col("host") == "PC-1")
    )
    return day.filter(pl.col("time").dt.date() == day["time"].min().date())["event_id"].to_list()


@pytest.mark.parametrize("collapse", [True, False])
def test_every_raw_event_is_scored_by_exactly_one_position(tmp_path: Path, collapse: bool) -> None:
    events = _events()
    work = make_work(tmp_path, events, {"format": "cert", "release": "r4"})
    build_sequences(work, collapse=collapse)
    for kind in ("session", "day"):
        seqs = load_sequences(work, kind)
        assert np.array_equal(np.sort(seqs.raw_event_rows()), np.arange(events.height))
        # BOS opens every sequence, stands for no event and is a class of its own
        assert np.all(seqs.tokens[seqs.offsets[:-1]] == seqs.bos) and seqs.bos == 169 == seqs.vocab_size - 1
        assert np.all(seqs.event_rows[seqs.offsets[:-1]] == -1) and np.all(seqs.raw_counts()[seqs.offsets[:-1]] == 0)
        # a raw event is scored by a position of its own sequence holding its own token, no later
        pos = seqs.raw_positions()
        tokens = WordHourTokenizer().transform(events)
        assert np.array_equal(seqs.tokens[pos], tokens[seqs.raw_event_rows()])
        assert np.array_equal(seqs.seq_index()[pos], seqs.raw_seq_index())
        assert np.all(seqs.times[pos] <= seqs.raw_event_times())
        if not collapse:
            assert np.array_equal(seqs.event_rows[pos], seqs.raw_event_rows())
    # subsets and the saved form keep the mapping
    sess = load_sequences(work)
    sub = sess.subset(np.array([7, 2]))
    ro = sess.raw_offsets()
    expect = np.concatenate([sess.raw_event_rows()[ro[7] : ro[8]], sess.raw_event_rows()[ro[2] : ro[3]]])
    assert np.array_equal(sub.raw_event_rows(), expect)
    assert np.array_equal(
        sub.tokens[sub.raw_positions()], sess.tokens[sess.raw_positions()][np.r_[ro[7] : ro[8], ro[2] : ro[3]]]
    )


def test_labels_come_from_raw_events_not_from_kept_positions(tmp_path: Path) -> None:
    """Only the collapsed repeat of the night session is malicious: the session still is."""
    events = _events()
    night = events.filter(pl.col("host") == "PC-9")
    repeat = night.filter(pl.col("action") == "File Write")["event_id"].to_list()[1]
    work = make_work(tmp_path, events, {"format": "cert", "release": "r4"}, [repeat])
    build_sequences(work)
    sess = load_sequences(work)
    from neighborwatch.data.labels import row_labels

    mal, _ = row_labels(work)
    assert raw_labels(sess, mal).sum() == 1
    act = activity_labels(sess, mal)
    assert act.sum() == 1  # the kept File Write that scores the repeat
    row = int(np.flatnonzero(mal)[0])
    assert sess.event_rows[np.flatnonzero(act)[0]] != row  # not the repeat's own row: it was collapsed
    data = P.load_eval_data(work.root)
    val = data.sessions["validation"]
    assert val.sequence_labels().sum() == 1 and val.raw_labels.sum() == 1
    assert data.days["validation"].sequence_labels().sum() == 1  # type: ignore[index]


@pytest.mark.parametrize("start_token", [True, False])
def test_first_activity_is_scored_and_scored_equals_labelled(tmp_path: Path, start_token: bool) -> None:
    events = _events()
    ids = _test_session_ids(events)  # its Logon (the first activity) and its http repeat included
    work = make_work(tmp_path, events, {"format": "cert", "release": "r4"}, ids)
    build_sequences(work, start_token=start_token)
    data = P.load_eval_data(work.root)
    det = NextTokenRarity().fit(load_sequences(work).split("train"))
    with pytest.warns(UserWarning):  # the validation period has no insider: threshold undefined
        res = P.evaluate_on(det, data)
    gt = res["levels"]["realtime"]["ground_truth"]
    labelled = len(ids)  # the malicious rows of labels.parquet in the test period
    assert (
        gt["malicious_events"]
        == labelled
        == res["levels"]["realtime"]["counts"]["positives"] + (gt["unscored_malicious_events"])
    )
    if start_token:
        assert gt["scored_malicious_events"] == labelled and gt["unscored_malicious_events"] == 0
        for level in ("session", "day"):
            assert res["levels"][level]["ground_truth"]["unscored_malicious_events"] == 0
            assert res["levels"][level]["ground_truth"]["malicious_events"] == labelled
    else:  # without BOS the Logon that opens the session stays unscored
        assert gt["unscored_malicious_events"] == 1


def test_stream_gives_repeats_the_score_of_what_they_repeat() -> None:
    from neighborwatch.streaming.events import parse_event
    from streaming_fixtures import bigram_engine, events_as_dicts, small_work

    work = small_work()
    engine, seqs = bigram_engine(work)
    assert engine.config.bos == seqs.bos > 0
    dicts = events_as_dicts(pl.read_parquet(work / "events.parquet"))
    recs = []
    for i in range(0, len(dicts), 50):
        recs += engine.submit([parse_event(d) for d in dicts[i : i + 50]]).records
    recs += engine.flush().records
    stream = {r["event_id"]: r["score"] for r in recs}
    ids = pl.read_parquet(work / "events.parquet", columns=["event_id"])["event_id"].to_list()
    batch = engine.scorer.batch_scores(seqs)[seqs.raw_positions()]
    n_repeat = sum(r["status"] == "repeat" for r in recs)
    assert n_repeat > 10
    for row, b in zip(seqs.raw_event_rows(), batch):
        s = stream[ids[row]]
        assert s is not None and not np.isnan(b)  # every raw event scored, the first ones too
        assert abs(s - b) < 1e-6
