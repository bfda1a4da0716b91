"""LAN told who acts (`user_history`): p(a | prefix, user) ∝ p(a | prefix) · p(a | user) / p(a).

The conditioning is a distribution again, leaves users without history alone, favours what the
user habitually does, and gives the same numbers in batch, live (through the engine) and after
save/load."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from neighborwatch.models.lan.detector import LAN
from neighborwatch.models.registry import load_detector
from neighborwatch.models.user_history import UserHistory
from neighborwatch.sequences.build import load_sequences
from neighborwatch.streaming.alerts import Thresholds
from neighborwatch.streaming.loader import build_engine
from streaming_fixtures import events_as_dicts, tiny
from test_streaming_lan import max_diff, one_thread, replay
from test_user_novelty import sessions

__all__ = ["one_thread", "tiny"]  # fixtures: the tiny WORK + model, one torch thread


def habits() -> UserHistory:
    return UserHistory.fit(sessions([("ann", [1, 1, 2] * 10), ("bob", [3, 3, 1] * 10), ("cat", [1, 2] * 10)]))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.01, 1.0), min_size=10, max_size=10), st.sampled_from(["ann", "bob", "cat", "new"]))
def test_conditioning_is_a_distribution_and_strangers_keep_the_prediction(weights, user) -> None:
    probs = np.asarray(weights, np.float32)[None, :] / np.float32(sum(weights))
    out = habits().condition(probs, np.array([user]), prior=20.0)
    assert out.shape == probs.shape and out.dtype == np.float32
    assert abs(float(out.sum()) - 1.0) < 1e-5 and (out > 0).all()
    if user == "new":  # no training history: the sequence model's prediction, unchanged
        assert np.allclose(out, probs, atol=1e-7)


def test_a_habit_gains_and_a_first_for_the_user_loses_against_the_organisation() -> None:
    flat = np.full((2, 10), 0.1, np.float32)
    out = habits().condition(flat, np.array(["ann", "bob"]), prior=20.0)
    ann, bob = out
    assert ann[1] > 0.1 and ann[3] < 0.1  # ann's habit up, bob's token down for ann
    assert bob[3] > 0.1 and bob[2] < 0.1
    # the lift agrees with the user's smoothed share: p(a | user) / p_all(a)
    h = habits()
    batch = np.array(["bob", "new", "ann", "bob", "cat"])
    lift = h.lift(batch, prior=20.0)
    share = (h.token_counts + 0.5) / (h.token_counts.sum() + 5.0)
    for row, user in zip(lift, batch, strict=True):
        p_user = np.exp(-h.surprisal(np.array([user] * 10), np.arange(10), prior=20.0))
        assert np.allclose(row, p_user / share, rtol=1e-5), user


def test_lan_with_user_history_streams_as_batch_and_survives_save_and_load(tiny, tmp_path) -> None:
    work, model = tiny
    plain = load_detector(model)
    seqs = load_sequences(work)
    det = load_detector(model)
    det.config.user_history = True
    det.user_history = UserHistory.fit(seqs.split("train"))
    batch = det.score_activities(seqs)
    before = plain.score_activities(seqs)
    known = np.isin(seqs.position_users(), det.user_history.users) & ~np.isnan(batch)
    assert known.sum() > 1000 and np.abs(batch[known] - before[known]).max() > 1e-3  # it does condition
    held_out = set(np.unique(seqs.split("validation").position_users())) - set(det.user_history.users)
    # the engine learns the users held out for validation, as the protocol does before the test
    engine = build_engine(model, work, detector=det, thresholds=Thresholds())
    assert held_out and held_out <= set(det.user_history.users)
    batch = det.score_activities(seqs)
    recs, _ = replay(engine, events_as_dicts(pl.read_parquet(work / "events.parquet")))
    worst, n = max_diff(work, seqs, batch, recs)
    assert n > 1000 and worst <= 1e-4, worst
    det.save(tmp_path / "m")
    again = LAN.load(tmp_path / "m")
    assert again.config.user_history and again.user_history is not None
    assert np.allclose(again.score_activities(seqs), batch, atol=1e-6, equal_nan=True)


def test_fit_builds_the_history_from_normal_training_events_only(tiny) -> None:
    work, _ = tiny
    train = load_sequences(work).split("train")
    commonest = np.bincount(train.tokens[train.raw_positions()]).argmax()
    labels = train.tokens == commonest  # every such activity "malicious"
    fast = {**LAN.presets["fast"], "epochs": 1, "max_train_samples": 500, "vocab_size": train.vocab_size}
    det = LAN(**fast, user_history=True).fit(train, labels)
    assert det.user_history is not None and det.user_history.token_counts.sum() > 0
    assert det.user_history.token_counts[commonest] == 0
    assert LAN(**fast).fit(train, labels).user_history is None


def test_extra_events_join_a_users_own_counts_but_not_the_organisations_mix() -> None:
    """`from_events` with training's `token_counts`: a held-out user's extra events make his own
    habit known (his first-time token loses) while the organisation's mix stays training's."""
    h = habits()
    users = np.array(["ann", "bob", "cat", "dan", "dan"])
    tokens = np.array([1, 3, 2, 4, 4])
    extra = UserHistory.from_events(
        np.concatenate([np.repeat(["ann", "bob", "cat"], [30, 30, 20]), ["dan"] * 30]),
        np.concatenate([[1, 1, 2] * 10, [3, 3, 1] * 10, [1, 2] * 10, [4] * 30]),
        h.vocab_size,
        h.token_counts,
    )
    assert np.array_equal(extra.token_counts, h.token_counts)
    before, after = h.surprisal(users, tokens, 20.0), extra.surprisal(users, tokens, 20.0)
    assert np.allclose(before[:3], after[:3])  # users with a training history are unchanged
    assert after[3] < before[3] - 1.0  # dan's own habit: token 4 is no longer new for him
    # without `token_counts` the mix is counted from the events given
    assert UserHistory.from_events(users, tokens, h.vocab_size).token_counts[4] == 2


def test_users_held_out_of_training_learn_their_normal_validation_events_once() -> None:
    """After model selection the protocol lets users the history has never seen count their
    labelled-normal validation events: his own habit (token 6, unknown org-wide) stops being rare,
    the organisation's commonest token becomes a first for him, his malicious events stay unknown,
    and known users and the mix are as before."""
    h = habits()
    validation = sessions([("ann", [3, 3, 3]), ("dan", [6] * 30 + [5, 5])])
    malicious = np.zeros(validation.n_activities, bool)
    malicious[validation.tokens == 5] = True
    learned = h.with_new_users(validation, malicious)
    users, tokens = np.array(["ann", "ann", "dan", "dan", "dan"]), np.array([3, 1, 6, 1, 5])
    before, after = h.surprisal(users, tokens, 20.0), learned.surprisal(users, tokens, 20.0)
    assert np.allclose(before[:2], after[:2])  # ann's validation events do not join her history
    assert after[2] < before[2] - 2.0  # dan's habit is his own now
    assert after[3] > before[3] + 0.5  # and the org's commonest token is a first for him
    assert after[4] > after[2] + 1.0  # his malicious events were left out
    assert np.array_equal(learned.token_counts, h.token_counts)  # the organisation's mix is training's
    # the same counts as building the history from training + dan's normal events
    train_users, train_tokens = (
        np.repeat(h.users[h.codes // h.vocab_size], h.counts),
        np.repeat(h.codes % h.vocab_size, h.counts),
    )
    direct = UserHistory.from_events(
        np.concatenate([train_users, ["dan"] * 30]),
        np.concatenate([train_tokens, [6] * 30]),
        h.vocab_size,
        h.token_counts,
    )
    for name in ("users", "codes", "counts", "user_totals"):
        assert np.array_equal(getattr(learned, name), getattr(direct, name)), name
    # a second call adds nothing: dan is known now
    again = learned.with_new_users(validation, malicious)
    assert np.array_equal(again.counts, learned.counts) and np.array_equal(again.users, learned.users)


def test_a_lan_learns_held_out_users_only_with_its_history(tiny) -> None:
    work, _ = tiny
    seqs = load_sequences(work)
    train, validation = seqs.split("train"), seqs.split("validation")
    fast = {**LAN.presets["fast"], "epochs": 1, "max_train_samples": 500, "vocab_size": train.vocab_size}
    det = LAN(**fast, user_history=True).fit(train)
    assert det.user_history is not None
    new = set(np.unique(validation.position_users())) - set(det.user_history.users)
    malicious = np.zeros(validation.n_activities, bool)
    assert new and det.learn_new_users(validation, malicious) == len(new)
    assert new <= set(det.user_history.users)
    assert det.learn_new_users(validation, malicious) == 0
    assert LAN(**fast).fit(train).learn_new_users(validation, malicious) == 0


def test_the_engine_calibrates_on_the_training_history_then_learns_the_held_out_users(tiny) -> None:
    from neighborwatch.models.baselines.realtime.user_novelty import UserNovelty
    from neighborwatch.streaming.loader import calibrate_for_work

    work, model = tiny
    train = load_sequences(work).split("train")
    expected = calibrate_for_work(UserNovelty().fit(train), work, 5.0, 24 * 3600.0)
    det = UserNovelty().fit(train)
    assert det.tables is not None
    known = set(det.tables.users)
    engine = build_engine(model, work, detector=det)
    assert (engine.thresholds.activity, engine.thresholds.risk) == (expected.activity, expected.risk)
    assert set(engine.scorer.tables.users) > known  # the live scorer has the learned users
