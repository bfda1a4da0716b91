import numpy as np
import pytest
from toy_sequences import Toy, sequences_of

from neighborwatch.models.baselines._nextactivity import target_positions
from neighborwatch.models.baselines.realtime.markov import MarkovChain


def make(seed: int, **kw) -> MarkovChain:
    return MarkovChain(seed=seed, **{"order": 3, **kw})


def _next_distribution(det: MarkovChain, prefix: list[int]) -> np.ndarray:
    """P(w | prefix) for every real token w."""
    v = det.vocab_size
    seqs = sequences_of([prefix + [w] for w in range(1, v)], vocab_size=v)
    return det.probabilities(seqs, np.flatnonzero(seqs.position_in_sequence() == len(prefix)))


@pytest.mark.parametrize("smoothing", ["kneser_ney", "add_k"])
@pytest.mark.parametrize("order", [1, 2, 4])
def test_next_activity_distribution_sums_to_one(toy: Toy, smoothing: str, order: int) -> None:
    det = make(0, order=order, smoothing=smoothing).fit(*toy["train"])
    seen = toy["train"][0].sequence(0)[:2].tolist()
    for prefix in (seen, [5, 77, 140]):  # a training prefix and one never seen
        p = _next_distribution(det, prefix)
        assert (p > 0).all()
        assert p.sum() == pytest.approx(1.0, abs=1e-9)


def test_kneser_ney_prefers_observed_continuations(toy: Toy) -> None:
    seqs, _ = toy["train"]
    det = make(0, order=2).fit(seqs)
    p = _next_distribution(det, [int(seqs.tokens[0])])
    followers = seqs.tokens[seqs.offsets[:-1][seqs.tokens[seqs.offsets[:-1]] == seqs.tokens[0]] + 1]
    assert p[np.unique(followers) - 1].min() > np.delete(p, np.unique(followers) - 1).max()


def test_nll_score_is_minus_log_probability(toy: Toy) -> None:
    prob = make(0).fit(*toy["train"]).score_activities(toy["test"][0])
    nll = make(0, score="nll").fit(*toy["train"]).score_activities(toy["test"][0])
    np.testing.assert_allclose(nll, -np.log(1 - prob), rtol=1e-9)


def test_malicious_training_targets_are_not_counted(toy: Toy) -> None:
    seqs, labels = toy["train"]
    with_labels = make(0).fit(seqs, labels)
    assert with_labels.tables["counts_2"].sum() == target_positions(seqs, labels).size < target_positions(seqs).size


def test_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="order"):
        MarkovChain(order=0)
    with pytest.raises(ValueError, match="smoothing"):
        MarkovChain(smoothing="witten_bell")
    with pytest.raises(ValueError, match="too high"):
        MarkovChain(order=9).fit(sequences_of([[1, 2, 3]]))
