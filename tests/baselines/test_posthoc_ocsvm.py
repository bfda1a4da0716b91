import pytest
from posthoc_fixtures import check_deterministic, check_roundtrip, check_scores, fit_on_toy, sequence_auc

from neighborwatch.models.baselines.posthoc.ocsvm import OCSVM

KW = dict(seed=10)


@pytest.fixture(scope="module")
def det() -> OCSVM:
    return fit_on_toy(OCSVM, **KW)


def test_scores_shape_and_range(det: OCSVM) -> None:
    check_scores(det)


def test_beats_random_on_planted_anomaly(det: OCSVM) -> None:
    assert sequence_auc(det) > 0.7


def test_deterministic_with_seed(det: OCSVM) -> None:
    check_deterministic(det, OCSVM, **KW)


def test_save_load_identical(det: OCSVM, tmp_path) -> None:
    check_roundtrip(det, tmp_path / "m")
