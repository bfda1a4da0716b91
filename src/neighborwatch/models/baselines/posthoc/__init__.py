"""Post-hoc baselines (sequence level: sessions and user-days), one module per detector.

Importing this package registers them all.
"""

from neighborwatch.models.baselines.posthoc import oc4seq  # noqa: F401
from neighborwatch.models.baselines.posthoc import gbt, iforest_seq, lof, ocsvm  # noqa: F401
from neighborwatch.models.baselines.posthoc import fmlprec_posthoc, rnn_posthoc  # noqa: F401
from neighborwatch.models.baselines.posthoc import lstm_ae  # noqa: F401
from neighborwatch.models.baselines.posthoc import itdbert  # noqa: F401
from neighborwatch.models.baselines.posthoc import log2vec  # noqa: F401
