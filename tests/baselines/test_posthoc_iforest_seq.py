import pytest
from posthoc_fixtures import fit_on_toy, toy, toy_test_scores

from neighborwatch.models.baselines.posthoc.iforest_seq import IForestSeq

KW = dict(seed=7, n_estimators=50)


@pytest.fixture(scope="module")
def det() -> IForestSeq:
    return fit_on_toy(IForestSeq, **KW)


def test_scores_shape_and_range(det: IForestSeq) -> None:
    s = toy_test_scores(det)
    assert ((s > 0) & (s <= 1)).all()  # isolation-forest anomaly scores


def test_features_count_what_the_sequence_holds() -> None:
    import numpy as np

    from neighborwatch.models.baselines.posthoc.features import feature_names, sequence_features

    seqs = toy()["test"][0].subset(np.array([0, 1, 2]))
    x = sequence_features(seqs)
    names = feature_names(seqs.vocab_size)
    assert x.shape == (3, len(names))
    col = {n: i for i, n in enumerate(names)}
    words = [f"count_word{i}" for i in range(7)]
    np.testing.assert_array_equal(x[:, [col[w] for w in words]].sum(1), seqs.lengths)
    for s in range(3):
        toks = seqs.sequence(s)
        assert x[s, col["count_word0"]] == np.sum((toks - 1) // 24 == 0)
        assert x[s, col["first_hour"]] == (toks[0] - 1) % 24
