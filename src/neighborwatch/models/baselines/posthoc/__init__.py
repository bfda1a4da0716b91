"""Post-hoc baselines (sequence level: sessions and user-days), one module per detector.

Importing this package registers them all.
"""

from neighborwatch.models.baselines.posthoc import oc4seq  # noqa: F401
from neighborwatch.models.baselines.posthoc import gbt, iforest_seq, lof, ocsvm  # noqa: F401
