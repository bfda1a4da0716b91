"""The paper's baselines: real-time (activity level) and post-hoc (sequence level).

Importing this package registers every baseline with `models.registry`. A family that is not
present (yet) is skipped, so that one missing subpackage does not hide the other.
"""

from __future__ import annotations

import importlib

for _family in ("realtime", "posthoc"):
    try:
        importlib.import_module(f"{__name__}.{_family}")
    except ModuleNotFoundError as _e:
        if _e.name != f"{__name__}.{_family}":
            raise
