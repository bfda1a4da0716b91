"""Peer-group start tokens (`prepare --start-token peer`, `sequences.peers.StartGroups`): every
sequence starts with its user's group token, the rest of the inputs stay as they were, and the
live engine opens each session with the same token (stream = batch)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from neighborwatch.models.registry import load_detector
from neighborwatch.sequences.build import build_sequences, load_config, load_sequences, load_start_groups
from neighborwatch.sequences.peers import UNKNOWN_GROUP, StartGroups
from neighborwatch.streaming.alerts import Thresholds
from neighborwatch.streaming.events import parse_event
from neighborwatch.streaming.loader import build_engine
from neighborwatch.workdir import WorkDir
from streaming_fixtures import batch_scores_by_event, events_as_dicts, make_work, train_tiny_lan

#: U000-U003 role "analyst", U004-U008 role "clerk", U009 in the table without any attribute
#: ("all users": no peer group); U900 is in the table with a role no training user has
ORG = pl.DataFrame(
    {
        "user": [f"U{u:03d}" for u in range(9)] + ["U900", "U009"],
        "role": ["analyst"] * 4 + ["clerk"] * 5 + ["pilot", None],  # U009: in the table, no role
    }
)


@pytest.fixture(scope="module")
def works(tmp_path_factory):
    """(plain WORK, peer WORK) over the same events and organisation table."""
    root = tmp_path_factory.mktemp("peer")
    plain = make_work(root / "plain")
    peer = make_work(root / "peer")
    for w in (plain, peer):
        ORG.write_parquet(WorkDir(w).users)
    build_sequences(plain)
    build_sequences(peer, peer_start=True)
    return plain, peer


def test_sequences_start_with_the_users_group_and_nothing_else_changes(works) -> None:
    plain_work, peer_work = works
    groups = load_start_groups(peer_work)
    assert groups is not None and load_start_groups(plain_work) is None
    assert groups.groups == (UNKNOWN_GROUP, "role=analyst", "role=clerk")  # no training user is a pilot
    assert groups.token("U002") == groups.bos + 1 and groups.token("U005") == groups.bos + 2
    assert groups.token("U009") == groups.token("U900") == groups.token("nobody") == groups.bos
    assert load_config(peer_work)["vocab_size"] == load_config(plain_work)["vocab_size"] + 2
    for kind in ("session", "day"):
        plain, peer = load_sequences(plain_work, kind), load_sequences(peer_work, kind)
        starts = peer.offsets[:-1]
        expected = groups.tokens(peer.meta["user"].to_list())
        np.testing.assert_array_equal(peer.tokens[starts], expected)
        assert set(expected.tolist()) == {groups.bos, groups.bos + 1, groups.bos + 2}
        assert peer.vocab_size == plain.vocab_size + 2 and peer.start_tokens == 3
        np.testing.assert_array_equal(peer.is_start(), plain.is_start())
        keep = ~peer.is_start()
        np.testing.assert_array_equal(peer.tokens[keep], plain.tokens[keep])
        np.testing.assert_array_equal(peer.raw_counts(), plain.raw_counts())  # a start token is no event
        np.testing.assert_array_equal(peer.without_start().tokens, plain.without_start().tokens)
        assert peer.meta.equals(plain.meta)


def test_without_an_organisation_table_peers_are_activity_clusters(tmp_path) -> None:
    work = make_work(tmp_path / "w", users=60, days=12)
    build_sequences(work, peer_start=True)
    groups = load_start_groups(work)
    assert groups is not None and "activity profile" in groups.rule
    trained = set(load_sequences(work).split("train").meta["user"].to_list())
    assert groups.n_tokens >= 3 and set(groups.users) == trained  # about 20 training users a group
    assert StartGroups.from_json(groups.to_json()) == groups


def test_apply_refuses_sequences_with_another_start_token(works) -> None:
    _, peer_work = works
    groups = load_start_groups(peer_work)
    assert groups is not None
    seqs = load_sequences(peer_work)
    with pytest.raises(ValueError, match="start with token"):
        StartGroups(groups.bos + 7, groups.groups, groups.users).apply(seqs)


def test_live_sessions_open_with_the_users_group_token(works, tmp_path) -> None:
    """A LAN trained on peer-start sequences scores the same event by event through the engine,
    with the WORK and, from what the model folder saved, without it."""
    _, peer_work = works
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = train_tiny_lan(peer_work, tmp_path / "model")
        det = load_detector(model)
        assert det.start_groups == load_config(peer_work)["start_groups"]
        seqs = load_sequences(peer_work)
        batch = batch_scores_by_event(peer_work, seqs, det.score_activities(seqs))
        events = events_as_dicts(pl.read_parquet(WorkDir(peer_work).events))
        for work in (peer_work, None):
            engine = build_engine(model, work, detector=det, thresholds=Thresholds())
            assert engine.start_groups is not None and engine.config.bos == engine.start_groups.bos
            recs = []
            for i in range(0, len(events), 97):
                recs += engine.submit([parse_event(d) for d in events[i : i + 97]]).records
            recs += engine.flush().records
            live = {r["event_id"]: r["score"] for r in recs}
            diffs = [abs(live[e] - b) for e, b in batch.items() if not np.isnan(b)]
            assert len(diffs) > 1000 and max(diffs) <= 1e-4, max(diffs)
        # the group token matters: the same model with every session opened by the plain BOS differs
        engine = build_engine(model, peer_work, detector=det, thresholds=Thresholds())
        engine.start_groups = None
        recs = engine.submit([parse_event(d) for d in events]).records + engine.flush().records
        plain = {r["event_id"]: r["score"] for r in recs}
        assert max(abs(plain[e] - b) for e, b in batch.items() if not np.isnan(b)) > 1e-4
    finally:
        torch.set_num_threads(before)


def test_a_model_whose_start_tokens_are_unknown_is_refused_without_its_work(works, tmp_path) -> None:
    """A baseline saves no start groups: without the WORK the engine cannot know how sessions
    start, and says so instead of feeding the wrong start token."""
    from neighborwatch.models.baselines.realtime.markov import MarkovChain

    _, peer_work = works
    seqs = load_sequences(peer_work)
    MarkovChain().fit(seqs.split("train")).save(tmp_path / "markov")
    assert build_engine(tmp_path / "markov", peer_work, thresholds=Thresholds()).start_groups is not None
    with pytest.raises(ValueError, match="give the WORK folder"):
        build_engine(tmp_path / "markov", None, thresholds=Thresholds())
