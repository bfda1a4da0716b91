import pytest
from posthoc_fixtures import fit_on_toy, toy_test_scores

from neighborwatch.models.baselines.posthoc.lof import LOF

KW = dict(seed=9)


@pytest.fixture(scope="module")
def det() -> LOF:
    return fit_on_toy(LOF, **KW)


def test_scores_shape_and_range(det: LOF) -> None:
    assert (toy_test_scores(det) > 0).all()  # local outlier factors
