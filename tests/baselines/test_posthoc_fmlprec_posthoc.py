import pytest
from posthoc_fixtures import check_deterministic, check_roundtrip, check_scores, fit_on_toy, sequence_auc

from neighborwatch.models.baselines.posthoc.fmlprec_posthoc import FMLPRecPosthoc

KW = dict(seed=5, max_epochs=3, window=10, embed_dim=32, blocks=1)


@pytest.fixture(scope="module")
def det() -> FMLPRecPosthoc:
    return fit_on_toy(FMLPRecPosthoc, **KW)


def test_scores_shape_and_range(det: FMLPRecPosthoc) -> None:
    s = check_scores(det)
    assert ((s >= 0) & (s <= 1)).all()  # 1 - P(activity)


def test_beats_random_on_planted_anomaly(det: FMLPRecPosthoc) -> None:
    assert sequence_auc(det) > 0.7


def test_deterministic_with_seed(det: FMLPRecPosthoc) -> None:
    check_deterministic(det, FMLPRecPosthoc, **KW)


def test_save_load_identical(det: FMLPRecPosthoc, tmp_path) -> None:
    check_roundtrip(det, tmp_path / "m")


def test_reuses_the_realtime_model_but_is_post_hoc_only(det: FMLPRecPosthoc) -> None:
    from neighborwatch.models.baselines.realtime.fmlprec import FMLPRec

    assert isinstance(det, FMLPRec) and det.name != FMLPRec.name
