import numpy as np
import pytest
from realtime_contract import TOY_TRAINING, Fitted, RealtimeContract, Toy

from neighborwatch.models.baselines.realtime.deeplog import DeepLog


def make(seed: int, **kw) -> DeepLog:
    return DeepLog(seed=seed, **{**TOY_TRAINING, "window": 10, "embed_dim": 16, "hidden": 16, **kw})


class TestDeepLog(RealtimeContract):
    make = staticmethod(make)

    def test_top_g_rule_and_rank_agree_with_probability(self, fitted: Fitted, toy: Toy) -> None:
        det, prob = fitted
        seqs = toy["test"][0]
        scores = {}
        for mode in ("topg", "rank"):
            det.config["score"] = mode
            scores[mode] = det.score_activities(seqs)
        det.config["score"] = "prob"
        ok = ~np.isnan(prob)
        topg, rank = scores["topg"][ok], scores["rank"][ok] * (seqs.vocab_size - 1)
        assert set(np.unique(topg)) <= {0.0, 1.0} and 0 < topg.mean() < 1
        np.testing.assert_array_equal(topg, (np.round(rank) >= det.config["top_g"]).astype(float))
        # with g = every key, DeepLog accepts everything
        det.config.update(score="topg", top_g=seqs.vocab_size)
        assert np.nansum(det.score_activities(seqs)) == 0
        det.config.update(score="prob", top_g=9)


def test_rejects_unknown_score_mode() -> None:
    with pytest.raises(ValueError, match="score"):
        DeepLog(score="maybe")
