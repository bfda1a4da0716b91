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


def test_held_out_users_learn_from_validation_labels_and_never_from_the_tests() -> None:
    """Through the protocol: dan, held out of training, has his normal validation habit (token 6)
    as his own once thresholds are set; which validation events count follows the validation
    labels, and the test period's labels reach no score."""
    from neighborwatch.evaluation import protocol as P

    train = sessions([("ann", [1, 1, 2] * 10), ("bob", [3, 3, 1] * 10)])
    validation = sessions([("ann", [1, 2, 7]), ("dan", [6] * 20 + [5])])
    test = sessions([("ann", [1, 2]), ("dan", [6, 6, 5]), ("bob", [3, 7])])
    val_malicious = np.isin(validation.tokens, [5, 7])
    test_malicious = np.isin(test.tokens, [5, 7])

    def run(val_labels: np.ndarray, test_labels: np.ndarray, learn: bool = True) -> np.ndarray:
        data = P.EvalData({"validation": P.Split(validation, val_labels), "test": P.Split(test, test_labels)})
        res = P.evaluate_on(
            UserNovelty().fit(train), data, levels=("realtime",), keep_scores=True, learn_new_users=learn
        )
        return res["arrays"]["realtime"]["scores"]

    learned, stranger = run(val_malicious, test_malicious), run(val_malicious, test_malicious, learn=False)
    dan6, dan5 = 2, 4  # raw items: ann 1, 2; dan 6, 6, 5; bob 3, 7 (start tokens are no items)
    assert learned[dan6] < stranger[dan6] - 2.0  # his habit is no longer rare for him
    assert learned[dan5] > stranger[dan5]  # and what he never did is a first for him
    assert np.allclose(np.delete(learned, [2, 3, 4]), np.delete(stranger, [2, 3, 4]))  # others as before
    # the test period's labels reach no score ...
    assert np.array_equal(run(val_malicious, ~test_malicious), learned)
    # ... the validation labels do: called malicious, his habit stays out of his history
    assert run(val_malicious | (validation.tokens == 6), test_malicious)[dan6] > learned[dan6] + 2.0
