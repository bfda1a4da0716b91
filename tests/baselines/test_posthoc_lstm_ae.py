import pytest
from posthoc_fixtures import check_deterministic, check_roundtrip, check_scores, fit_on_toy, sequence_auc

from neighborwatch.models.baselines.posthoc.lstm_ae import LSTMAutoencoder

KW = dict(seed=6, epochs=4)


@pytest.fixture(scope="module")
def det() -> LSTMAutoencoder:
    return fit_on_toy(LSTMAutoencoder, **KW)


def test_scores_shape_and_range(det: LSTMAutoencoder) -> None:
    assert (check_scores(det) >= 0).all()  # cross-entropies


def test_beats_random_on_planted_anomaly(det: LSTMAutoencoder) -> None:
    assert sequence_auc(det) > 0.7


def test_deterministic_with_seed(det: LSTMAutoencoder) -> None:
    check_deterministic(det, LSTMAutoencoder, **KW)


def test_save_load_identical(det: LSTMAutoencoder, tmp_path) -> None:
    check_roundtrip(det, tmp_path / "m")
