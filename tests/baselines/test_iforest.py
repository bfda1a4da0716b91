import numpy as np
from toy_sequences import Toy, sequences_of

from neighborwatch.models.baselines._nextactivity import target_positions
from neighborwatch.models.baselines.realtime.iforest import FEATURES, ContextIsolationForest, context_features


def make(seed: int, **kw) -> ContextIsolationForest:
    return ContextIsolationForest(seed=seed, **{"n_estimators": 50, **kw})


def test_user_frequencies_come_from_the_training_period_only(single_thread: None) -> None:
    train = sequences_of([[1, 50, 50, 60], [1, 70]], users=["alice", "bob"])
    det = make(0).fit(train)
    # alice's scorable training activities: 50, 50, 60; bob's: 70
    test = sequences_of([[1, 50, 60, 70], [1, 50]], users=["alice", "carol"])
    pos = target_positions(test)
    f = context_features(test, pos, det.profile)
    user_tok = f[:, FEATURES.index("user_token_freq")]
    np.testing.assert_allclose(user_tok[:3], [2 / 3, 1 / 3, 0.0])
    # carol was never seen: she gets the global frequency of token 50 (2 of 4 training activities)
    assert user_tok[3] == 0.5 == f[3, FEATURES.index("global_token_freq")]
    assert f[:, FEATURES.index("index")].tolist() == [1, 2, 3, 1]
    np.testing.assert_allclose(f[:, FEATURES.index("log_gap_s")], np.log1p(60.0))


def test_training_rows_are_capped_with_the_seed(toy: Toy, single_thread: None) -> None:
    a = make(0, max_fit_rows=100).fit(*toy["train"])
    b = make(0, max_fit_rows=100).fit(*toy["train"])
    assert a.fit_rows.shape == (100, len(FEATURES))
    np.testing.assert_array_equal(a.fit_rows, b.fit_rows)
