from realtime_contract import TOY_TRAINING, RealtimeContract

from neighborwatch.models.baselines.realtime.fmlprec import FMLPRec


def make(seed: int) -> FMLPRec:
    return FMLPRec(seed=seed, **TOY_TRAINING, embed_dim=16, blocks=1)


class TestFMLPRec(RealtimeContract):
    make = staticmethod(make)
