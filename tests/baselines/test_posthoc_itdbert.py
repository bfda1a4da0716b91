import pytest
from posthoc_fixtures import check_deterministic, check_roundtrip, check_scores, fit_on_toy, sequence_auc

from neighborwatch.models.baselines.posthoc.itdbert import ITDBERT

KW = dict(pretrain_epochs=2, epochs=3, seed=1)


@pytest.fixture(scope="module")
def det() -> ITDBERT:
    return fit_on_toy(ITDBERT, **KW)


def test_scores_shape_and_range(det: ITDBERT) -> None:
    check_scores(det)


def test_beats_random_on_planted_anomaly(det: ITDBERT) -> None:
    assert sequence_auc(det) > 0.7


def test_deterministic_with_seed(det: ITDBERT) -> None:
    check_deterministic(det, ITDBERT, **KW)


def test_save_load_identical(det: ITDBERT, tmp_path) -> None:
    check_roundtrip(det, tmp_path / "m")


def test_classifier_is_trained_with_labels(det: ITDBERT) -> None:
    assert det.mode == "supervised" and det.pos_weight > 1  # malicious chunks are the minority


def test_without_labels_scores_by_masked_lm_loss() -> None:
    from posthoc_fixtures import one_thread, toy, toy_test_scores

    train = toy()["train"][0]
    with one_thread():
        d = ITDBERT(pretrain_epochs=1, seed=1).fit(train)
    assert d.mode == "unsupervised"
    s = toy_test_scores(d)
    assert s.shape == (len(toy()["test"][0]),) and (s > 0).all()
