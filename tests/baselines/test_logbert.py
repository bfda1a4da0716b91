from realtime_contract import TOY_TRAINING, RealtimeContract

from neighborwatch.models.baselines.realtime.logbert import LogBERT


def make(seed: int) -> LogBERT:
    return LogBERT(seed=seed, **TOY_TRAINING, embed_dim=16, blocks=1)


class TestLogBERT(RealtimeContract):
    make = staticmethod(make)
