"""Real-time baselines: each scores an activity from its prefix only (LAN.md §7).

Importing this package registers them all with `neighborwatch.models.registry`.
"""

from neighborwatch.models.baselines.realtime import (  # noqa: F401  (imports register)
    deeplog,
    fmlprec,
    gru4rec,
    iforest,
    logbert,
    lstm,
    markov,
    rnn,
    sasrec,
    user_novelty,
)
