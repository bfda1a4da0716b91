import pytest
from posthoc_fixtures import fit_on_toy, toy_test_scores

from neighborwatch.models.baselines.posthoc.lstm_ae import LSTMAutoencoder

KW = dict(seed=6, epochs=4)


@pytest.fixture(scope="module")
def det() -> LSTMAutoencoder:
    return fit_on_toy(LSTMAutoencoder, **KW)


def test_scores_shape_and_range(det: LSTMAutoencoder) -> None:
    assert (toy_test_scores(det) >= 0).all()  # cross-entropies
