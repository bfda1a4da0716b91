import torch
from toy_sequences import TOY_TRAINING

from neighborwatch.models.baselines._tensors import right_pad
from neighborwatch.models.baselines.realtime.lstm import LSTMNextActivity


def make(seed: int) -> LSTMNextActivity:
    return LSTMNextActivity(seed=seed, **TOY_TRAINING, embed_dim=16, hidden=16, layers=1, heads=2)


def test_windows_are_rotated_to_right_padding() -> None:
    tokens, lengths = right_pad(torch.tensor([[0, 0, 3, 4], [1, 2, 3, 4], [0, 0, 0, 9]]))
    assert tokens.tolist() == [[3, 4, 0, 0], [1, 2, 3, 4], [9, 0, 0, 0]]
    assert lengths.tolist() == [2, 4, 1]
