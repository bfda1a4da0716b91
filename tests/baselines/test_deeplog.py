import numpy as np
import pytest
from toy_sequences import TOY_TRAINING, Toy, fit_toy, streamed

from neighborwatch.models.baselines.realtime.deeplog import DeepLog


def make(seed: int, **kw) -> DeepLog:
    return DeepLog(seed=seed, **{**TOY_TRAINING, "window": 10, "embed_dim": 16, "hidden": 16, **kw})


def test_top_g_rule_and_rank_agree_with_probability(toy: Toy, single_thread: None) -> None:
    det = fit_toy(make(0), toy)
    seqs = toy["test"][0]
    prob = det.score_activities(seqs)
    scores = {}
    for mode in ("topg", "rank"):
        det.config = det.config.replace(score=mode)
        scores[mode] = det.score_activities(seqs)
    ok = ~np.isnan(prob)
    topg, rank = scores["topg"][ok], scores["rank"][ok] * (seqs.vocab_size - 1)
    assert set(np.unique(topg)) <= {0.0, 1.0} and 0 < topg.mean() < 1
    np.testing.assert_array_equal(topg, (np.round(rank) >= det.config.top_g).astype(float))
    for mode in ("topg", "rank"):  # the live scorer applies the same rule
        det.config = det.config.replace(score=mode)
        np.testing.assert_allclose(streamed(det, seqs), scores[mode], atol=1e-6)
    # with g = every key, DeepLog accepts everything
    det.config = det.config.replace(score="topg", top_g=seqs.vocab_size)
    assert np.nansum(det.score_activities(seqs)) == 0


def test_rejects_unknown_score_mode_and_frozen_config() -> None:
    with pytest.raises(ValueError, match="score"):
        DeepLog(score="maybe")
    with pytest.raises(AttributeError):
        DeepLog().config.score = "rank"  # type: ignore[misc]
