import pytest
from posthoc_fixtures import check_deterministic, check_roundtrip, check_scores, fit_on_toy, sequence_auc

from neighborwatch.models.baselines.posthoc.rnn_posthoc import RNNPosthoc

KW = dict(seed=4, max_epochs=3, window=10)


@pytest.fixture(scope="module")
def det() -> RNNPosthoc:
    return fit_on_toy(RNNPosthoc, **KW)


def test_scores_shape_and_range(det: RNNPosthoc) -> None:
    assert (check_scores(det) >= 0).all()  # negative log-likelihoods


def test_beats_random_on_planted_anomaly(det: RNNPosthoc) -> None:
    assert sequence_auc(det) > 0.7


def test_deterministic_with_seed(det: RNNPosthoc) -> None:
    check_deterministic(det, RNNPosthoc, **KW)


def test_save_load_identical(det: RNNPosthoc, tmp_path) -> None:
    check_roundtrip(det, tmp_path / "m")
