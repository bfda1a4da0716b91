"""Post-hoc baselines (sequence level: sessions and user-days), one module per detector.

Importing this package registers them all.
"""

from neighborwatch.models.baselines.posthoc import (  # noqa: F401  (imports register)
    fmlprec_posthoc,
    gbt,
    iforest_seq,
    itdbert,
    lof,
    log2vec,
    lstm_ae,
    oc4seq,
    ocsvm,
    rnn_posthoc,
)
