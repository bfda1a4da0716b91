from realtime_contract import TOY_TRAINING, RealtimeContract

from neighborwatch.models.baselines.realtime.sasrec import SASRec


def make(seed: int) -> SASRec:
    return SASRec(seed=seed, **TOY_TRAINING, embed_dim=16, blocks=1)


class TestSASRec(RealtimeContract):
    make = staticmethod(make)
