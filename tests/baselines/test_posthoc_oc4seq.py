import pytest
import torch
from posthoc_fixtures import fit_on_toy, toy, toy_test_scores

from neighborwatch.models.baselines.posthoc.oc4seq import OC4Seq

KW = dict(epochs=3, seed=3)


@pytest.fixture(scope="module")
def det() -> OC4Seq:
    return fit_on_toy(OC4Seq, **KW)


def test_scores_shape_and_range(det: OC4Seq) -> None:
    assert (toy_test_scores(det) >= 0).all()  # squared distances


def test_centres_are_set_and_away_from_zero(det: OC4Seq) -> None:
    for c in (det.module.c_global, det.module.c_local):
        assert torch.all(c.abs() >= 0.1 - 1e-6)


def test_learns_from_normal_chunks_only() -> None:
    import numpy as np

    train, labels = toy()["train"]
    with pytest.raises(ValueError, match="no normal training chunks"):
        OC4Seq(epochs=1).fit(train, np.ones_like(labels))
