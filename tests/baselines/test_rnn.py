from realtime_contract import TOY_TRAINING, RealtimeContract

from neighborwatch.models.baselines.realtime.rnn import VanillaRNN


def make(seed: int) -> VanillaRNN:
    return VanillaRNN(seed=seed, **TOY_TRAINING, embed_dim=16, hidden=16)


class TestVanillaRNN(RealtimeContract):
    make = staticmethod(make)
