"""The shared trainer/scorer of the neural next-activity baselines (`_nextactivity`)."""

import numpy as np
import pytest
from toy_sequences import TOY_TRAINING, Toy

from neighborwatch.models.baselines._nextactivity import WindowMaker, target_positions
from neighborwatch.models.baselines.realtime.rnn import VanillaRNN
from neighborwatch.models.options import UnknownOptionError


def test_windows_hold_the_left_padded_prefix_of_the_own_sequence(toy: Toy) -> None:
    seqs = toy["test"][0]
    positions = np.arange(seqs.n_activities)
    windows = WindowMaker(seqs, 4)(positions)
    for s in range(len(seqs)):
        seq = seqs.sequence(s).tolist()
        for i in range(len(seq)):
            expected = ([0] * 4 + seq[:i])[-4:]
            assert windows[seqs.offsets[s] + i].tolist() == expected


def test_target_positions_skip_sequence_starts_and_malicious_targets(toy: Toy) -> None:
    seqs, labels = toy["train"]
    first = seqs.position_in_sequence() == 0
    np.testing.assert_array_equal(target_positions(seqs), np.flatnonzero(~first))
    np.testing.assert_array_equal(target_positions(seqs, labels), np.flatnonzero(~first & ~labels))
    with pytest.raises(ValueError, match="one entry per activity"):
        target_positions(seqs, labels[:-1])


def test_keeps_the_weights_of_the_best_validation_epoch(toy: Toy, single_thread: None) -> None:
    det = VanillaRNN(seed=3, **{**TOY_TRAINING, "max_epochs": 4, "lr": 0.05}, embed_dim=8, hidden=8)
    det.fit(*toy["train"], *toy["validation"])
    val, val_labels = toy["validation"]
    now = det._mean_loss(WindowMaker(val, det.config.window), target_positions(val, val_labels))
    assert now == pytest.approx(min(h["val_loss"] for h in det.history), rel=1e-5)
    assert 1 <= len(det.history) <= 4


def test_rejects_unknown_parameters_and_foreign_vocabularies(toy: Toy, single_thread: None) -> None:
    with pytest.raises(UnknownOptionError, match="rnn: unknown option.*hiden"):
        VanillaRNN(hiden=8)
    det = VanillaRNN(seed=0, **{**TOY_TRAINING, "max_epochs": 1}).fit(*toy["train"])
    seqs = toy["test"][0]
    seqs.vocab_size, before = 170, seqs.vocab_size
    try:
        with pytest.raises(ValueError, match="vocab_size"):
            det.score_activities(seqs)
    finally:
        seqs.vocab_size = before


@pytest.mark.parametrize("name", ["deeplog", "rnn", "gru4rec", "lstm"])
def test_one_pass_over_short_prefixes_scores_like_one_window_per_activity(
    toy: Toy, single_thread: None, name: str
) -> None:
    """The causal nets score positions 1..W of a sequence from one pass; the numbers must equal
    the window-per-activity path (within 1e-5), for sequences shorter and longer than W."""
    from neighborwatch.models.registry import detector_class

    seqs = toy["test"][0]
    window = 6
    assert (seqs.lengths > window + 1).any() and (seqs.lengths <= window).any()  # both kinds present
    det = detector_class(name)(
        seed=1, window=window, embed_dim=8, hidden=8, score_batch=7, **({"heads": 2} if name == "lstm" else {})
    )
    det.vocab_size = seqs.vocab_size
    det.net = det.build_net(seqs.vocab_size)  # random weights: equality must not depend on training
    assert det.net.shares_prefixes
    shared = det.score_activities(seqs)
    calls: list[int] = []
    det.net.register_forward_hook(lambda *_: calls.append(1))
    type(det.net).shares_prefixes = False  # the window-per-activity path
    try:
        windowed = det.score_activities(seqs)
    finally:
        type(det.net).shares_prefixes = True
    assert calls  # the reference really ran the windows
    np.testing.assert_array_equal(np.isnan(shared), np.isnan(windowed))
    assert np.nanmax(np.abs(shared - windowed)) < 1e-5
