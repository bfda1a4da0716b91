import numpy as np

from neighborwatch.models.base import aggregate_activity_scores
from neighborwatch.sequences.base import SequenceSet, activity_labels, sequence_labels
from neighborwatch.sequences.toy import toy_data


def test_subset_keeps_each_sequence_intact():
    seqs, _ = toy_data(seed=1)["train"]
    sub = seqs.subset(np.array([5, 2, 9]))
    for new, old in enumerate([5, 2, 9]):
        assert np.array_equal(sub.sequence(new), seqs.sequence(old))
    assert sub.meta["seq_id"].to_list() == [0, 1, 2]
    assert sub.meta["start"].to_list() == seqs.meta["start"].gather([5, 2, 9]).to_list()


def test_save_load_round_trip(tmp_path):
    seqs, _ = toy_data(seed=2)["test"]
    seqs.save(tmp_path / "s")
    back = SequenceSet.load(tmp_path / "s")
    assert np.array_equal(back.tokens, seqs.tokens)
    assert np.array_equal(back.offsets, seqs.offsets)
    assert back.meta.equals(seqs.meta)


def test_positions_and_labels():
    seqs, labels = toy_data(seed=3)["test"]
    pos = seqs.position_in_sequence()
    assert (pos[seqs.offsets[:-1]] == 0).all()
    rows = np.zeros(seqs.event_rows.max() + 1, dtype=bool)
    rows[seqs.event_rows[labels]] = True
    assert np.array_equal(activity_labels(seqs, rows), labels)
    per_seq = sequence_labels(seqs, labels)
    expected = [labels[seqs.offsets[s] : seqs.offsets[s + 1]].any() for s in range(len(seqs))]
    assert per_seq.tolist() == expected


def test_aggregate_top3_mean_ignores_nan():
    seqs, _ = toy_data(seed=4, n_train=3, n_val=1, n_test=1)["train"]
    scores = np.arange(seqs.n_activities, dtype=float)
    scores[seqs.offsets[:-1]] = np.nan
    out = aggregate_activity_scores(seqs, scores)
    for s in range(len(seqs)):
        v = np.sort(scores[seqs.offsets[s] + 1 : seqs.offsets[s + 1]])[-3:]
        assert out[s] == v.mean()


def test_without_start_drops_only_the_bos_positions():
    seqs, _ = toy_data(seed=5, n_train=4, n_val=1, n_test=1)["train"]
    n = len(seqs)
    bos = seqs.vocab_size
    lengths = seqs.lengths + 1
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    tokens = np.full(offsets[-1], bos, dtype=np.int32)
    real = np.ones(offsets[-1], bool)
    real[offsets[:-1]] = False
    tokens[real] = seqs.tokens
    rows = np.full(offsets[-1], -1)
    rows[real] = seqs.event_rows
    times = np.repeat(seqs.times[seqs.offsets[:-1]], 1)
    all_times = np.zeros(offsets[-1], dtype=np.int64)
    all_times[real] = seqs.times
    all_times[~real] = times
    with_bos = SequenceSet(tokens, offsets, rows, all_times, seqs.meta, vocab_size=bos + 1, extra={"bos": bos})
    assert len(with_bos) == n and with_bos.raw_counts().sum() == seqs.n_activities
    back = with_bos.without_start()
    assert np.array_equal(back.tokens, seqs.tokens) and np.array_equal(back.offsets, seqs.offsets)
    assert np.array_equal(back.event_rows, seqs.event_rows) and back.bos == 0
    assert seqs.without_start() is seqs


def test_post_hoc_evidence_of_probability_scores_is_surprisal():
    """One near-impossible activity outweighs three merely unlikely ones once read as −log P;
    as plain 1 − P means the three win (0.99 > 0.933) and the near-impossible one is lost."""
    from neighborwatch.models.base import Detector, surprisal

    seqs, _ = toy_data(seed=6, n_train=2, n_val=1, n_test=1)["train"]
    seqs = seqs.subset(np.array([0, 1]))
    scores = np.full(seqs.n_activities, 0.1)
    scores[seqs.offsets[:-1]] = np.nan
    a, b = seqs.offsets[0] + 1, seqs.offsets[1] + 1
    scores[a : a + 3] = [0.999999, 0.9, 0.9]
    scores[b : b + 3] = 0.99

    class Probabilistic(Detector):
        name = "p"
        scores_are_probabilities = True  # type: ignore[assignment]

        def fit(self, train, train_labels=None, validation=None, validation_labels=None):
            return self

        def score_activities(self, s):
            return scores

    class Plain(Probabilistic):
        scores_are_probabilities = False  # type: ignore[assignment]

    assert np.allclose(Probabilistic().score_sequences(seqs), aggregate_activity_scores(seqs, surprisal(scores)))
    first, second = Probabilistic().score_sequences(seqs)
    assert first > second
    first, second = Plain().score_sequences(seqs)
    assert first < second
