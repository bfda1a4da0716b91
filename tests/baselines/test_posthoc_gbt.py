import pytest
from posthoc_fixtures import fit_on_toy, toy, toy_test_scores

from neighborwatch.models.baselines.posthoc.gbt import GBT

KW = dict(seed=8, max_iter=20)


@pytest.fixture(scope="module")
def det() -> GBT:
    return fit_on_toy(GBT, **KW)


def test_scores_shape_and_range(det: GBT) -> None:
    s = toy_test_scores(det)
    assert ((s >= 0) & (s <= 1)).all()  # probabilities


def test_needs_labels_with_both_classes() -> None:
    train, labels = toy()["train"]
    with pytest.raises(ValueError, match="training labels"):
        GBT().fit(train)
    with pytest.raises(ValueError, match="both normal and malicious"):
        GBT().fit(train, labels & False)
