import numpy as np
import pytest
from posthoc_fixtures import fit_on_toy, toy, toy_test_scores

from neighborwatch.models.baselines.posthoc.log2vec import Log2Vec

KW = dict(seed=2)


@pytest.fixture(scope="module")
def det() -> Log2Vec:
    return fit_on_toy(Log2Vec, **KW)


def test_scores_shape_and_range(det: Log2Vec) -> None:
    s = toy_test_scores(det)
    assert ((s >= 0) & (s <= 2)).all()  # mean cosine distances


def test_scores_are_transductive_but_label_free(det: Log2Vec) -> None:
    """Scoring needs no labels, and any subset of sequences can be scored on its own."""

    test = toy()["test"][0]
    part = test.subset(np.arange(10))
    s = det.score_sequences(part)
    assert s.shape == (10,) and np.isfinite(s).all()


def test_rejects_another_vocabulary(det: Log2Vec) -> None:
    test = toy()["test"][0]
    test.vocab_size = 500
    try:
        with pytest.raises(ValueError, match="vocab_size"):
            det.score_sequences(test)
    finally:
        test.vocab_size = 169
