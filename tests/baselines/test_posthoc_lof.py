import pytest
from posthoc_fixtures import check_deterministic, check_roundtrip, check_scores, fit_on_toy, sequence_auc

from neighborwatch.models.baselines.posthoc.lof import LOF

KW = dict(seed=9)


@pytest.fixture(scope="module")
def det() -> LOF:
    return fit_on_toy(LOF, **KW)


def test_scores_shape_and_range(det: LOF) -> None:
    assert (check_scores(det) > 0).all()  # local outlier factors


def test_beats_random_on_planted_anomaly(det: LOF) -> None:
    assert sequence_auc(det) > 0.7


def test_deterministic_with_seed(det: LOF) -> None:
    check_deterministic(det, LOF, **KW)


def test_save_load_identical(det: LOF, tmp_path) -> None:
    check_roundtrip(det, tmp_path / "m")
