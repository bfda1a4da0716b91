"""The paper's baselines: real-time (activity level) and post-hoc (sequence level).

Importing this package registers every baseline with `models.registry`; a broken module fails
the import loudly rather than dropping its detector.
"""

from neighborwatch.models.baselines import posthoc, realtime  # noqa: F401  (imports register)
