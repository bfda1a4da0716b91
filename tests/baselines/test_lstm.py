from realtime_contract import TOY_TRAINING, RealtimeContract

from neighborwatch.models.baselines.realtime.lstm import LSTMNextActivity


def make(seed: int) -> LSTMNextActivity:
    return LSTMNextActivity(seed=seed, **TOY_TRAINING, embed_dim=16, hidden=16, layers=1, heads=2)


class TestLSTMNextActivity(RealtimeContract):
    make = staticmethod(make)
