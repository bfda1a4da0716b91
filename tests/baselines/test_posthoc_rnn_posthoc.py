import pytest
from posthoc_fixtures import fit_on_toy, toy_test_scores

from neighborwatch.models.baselines.posthoc.rnn_posthoc import RNNPosthoc

KW = dict(seed=4, max_epochs=3, window=10)


@pytest.fixture(scope="module")
def det() -> RNNPosthoc:
    return fit_on_toy(RNNPosthoc, **KW)


def test_scores_shape_and_range(det: RNNPosthoc) -> None:
    assert (toy_test_scores(det) >= 0).all()  # negative log-likelihoods
