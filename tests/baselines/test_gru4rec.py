from realtime_contract import TOY_TRAINING, RealtimeContract

from neighborwatch.models.baselines.realtime.gru4rec import GRU4Rec


def make(seed: int) -> GRU4Rec:
    return GRU4Rec(seed=seed, **TOY_TRAINING, embed_dim=16, hidden=16)


class TestGRU4Rec(RealtimeContract):
    make = staticmethod(make)
