import pytest
from posthoc_fixtures import fit_on_toy, one_thread, toy, toy_test_scores

from neighborwatch.models.baselines.posthoc.itdbert import ITDBERT

KW = dict(pretrain_epochs=2, epochs=3, seed=1)


@pytest.fixture(scope="module")
def det() -> ITDBERT:
    return fit_on_toy(ITDBERT, **KW)


def test_classifier_is_trained_with_labels(det: ITDBERT) -> None:
    assert det.mode == "supervised" and det.pos_weight > 1  # malicious chunks are the minority


def test_without_labels_scores_by_masked_lm_loss() -> None:
    train = toy()["train"][0]
    with one_thread():
        d = ITDBERT(pretrain_epochs=1, seed=1).fit(train)
    assert d.mode == "unsupervised"
    s = toy_test_scores(d)
    assert s.shape == (len(toy()["test"][0]),) and (s > 0).all()
