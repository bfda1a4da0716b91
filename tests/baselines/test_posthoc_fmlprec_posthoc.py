import numpy as np
import pytest
from posthoc_fixtures import fit_on_toy, toy_test_scores

from neighborwatch.models.base import MIN_P
from neighborwatch.models.baselines.posthoc.fmlprec_posthoc import FMLPRecPosthoc

KW = dict(seed=5, max_epochs=3, window=10, embed_dim=32, blocks=1)


@pytest.fixture(scope="module")
def det() -> FMLPRecPosthoc:
    return fit_on_toy(FMLPRecPosthoc, **KW)


def test_scores_shape_and_range(det: FMLPRecPosthoc) -> None:
    s = toy_test_scores(det)
    assert ((s >= 0) & (s <= -np.log(MIN_P))).all()  # top-3 mean of −log P(activity), capped


def test_reuses_the_realtime_model_but_is_post_hoc_only(det: FMLPRecPosthoc) -> None:
    from neighborwatch.models.baselines.realtime.fmlprec import FMLPRec

    assert isinstance(det, FMLPRec) and det.name != FMLPRec.name
