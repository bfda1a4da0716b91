import torch
from toy_sequences import TOY_TRAINING

from neighborwatch.models.baselines.realtime.rnn import VanillaRNN


def make(seed: int) -> VanillaRNN:
    return VanillaRNN(seed=seed, **TOY_TRAINING, embed_dim=16, hidden=16)


def test_padding_never_enters_the_recurrent_state() -> None:
    net = make(0).build_net(169).eval()
    short = torch.tensor([[0, 5, 6, 7], [1, 2, 3, 4]])
    longer = torch.cat([torch.zeros(2, 6, dtype=torch.long), short], dim=1)  # the same prefixes, more padding
    torch.testing.assert_close(net(short), net(longer))
