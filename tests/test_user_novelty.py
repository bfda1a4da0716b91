"""user_novelty: an activity is scored by how often the acting user did it in training, shrunk to
the organisation's mix; users without history get the organisation's rarity."""

from __future__ import annotations

import numpy as np
import polars as pl

from neighborwatch.models.baselines.realtime.user_novelty import UserNovelty
from neighborwatch.sequences.base import META_SCHEMA, SequenceSet


def sessions(rows: list[tuple[str, list[int]]]) -> SequenceSet:
    """One sequence per (user, tokens), each starting with start token 9 (vocab 10)."""
    tokens = [t for _, toks in rows for t in [9, *toks]]
    offsets = np.concatenate([[0], np.cumsum([len(t) + 1 for _, t in rows])])
    n = len(rows)
    meta = pl.DataFrame(
        {
            "seq_id": np.arange(n),
            "user": [u for u, _ in rows],
            "host": ["pc"] * n,
            "start": [None] * n,
            "end": [None] * n,
            "length": [len(t) + 1 for _, t in rows],
            "split": ["train"] * n,
        },
        schema=META_SCHEMA,
    )
    return SequenceSet(
        tokens=np.array(tokens),
        offsets=offsets,
        event_rows=np.arange(len(tokens)),
        times=np.arange(len(tokens)),
        meta=meta,
        vocab_size=10,
        extra={"bos": 9},
    )


def test_a_first_for_the_user_outscores_a_habit_and_strangers_get_the_organisations_rarity() -> None:
    train = sessions([("ann", [1, 1, 2] * 10), ("bob", [3, 3, 1] * 10), ("cat", [1, 2] * 10)])
    det = UserNovelty().fit(train)
    test = sessions([("ann", [1, 3]), ("bob", [3, 2]), ("new", [1, 4])])
    s = det.score_activities(test)
    assert np.isnan(s[test.offsets[:-1]]).all()  # start tokens are not scored
    ann_habit, ann_first = s[1], s[2]
    assert ann_first > ann_habit + 1.5  # bob's habit, but a first for ann
    assert s[5] > s[4]  # bob never did 2; he does 3 all the time
    # a user without history: the organisation's share (token 1 is common, token 4 never seen)
    assert s[7] < ann_first < s[8]
    # malicious training activities are not part of anyone's habits
    labels = np.zeros(train.n_activities, bool)
    labels[train.tokens == 3] = True
    assert UserNovelty().fit(train, labels).score_activities(test)[4] > s[4] + 2  # bob's 3 is no habit
