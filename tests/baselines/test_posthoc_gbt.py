import pytest
from posthoc_fixtures import check_deterministic, check_roundtrip, check_scores, fit_on_toy, sequence_auc

from neighborwatch.models.baselines.posthoc.gbt import GBT

KW = dict(seed=8, max_iter=20)


@pytest.fixture(scope="module")
def det() -> GBT:
    return fit_on_toy(GBT, **KW)


def test_scores_shape_and_range(det: GBT) -> None:
    s = check_scores(det)
    assert ((s >= 0) & (s <= 1)).all()  # probabilities


def test_beats_random_on_planted_anomaly(det: GBT) -> None:
    assert sequence_auc(det) > 0.7


def test_deterministic_with_seed(det: GBT) -> None:
    check_deterministic(det, GBT, **KW)


def test_save_load_identical(det: GBT, tmp_path) -> None:
    check_roundtrip(det, tmp_path / "m")


def test_needs_labels_with_both_classes() -> None:
    from posthoc_fixtures import toy

    train, labels = toy()["train"]
    with pytest.raises(ValueError, match="training labels"):
        GBT().fit(train)
    with pytest.raises(ValueError, match="both normal and malicious"):
        GBT().fit(train, labels & False)
