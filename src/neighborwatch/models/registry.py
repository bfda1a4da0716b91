"""Detectors by name, so that CLI, evaluation and benchmark never import a detector directly.

Importing this module imports every detector family explicitly: a broken detector module fails
here, loudly, instead of silently dropping out of `benchmark`. Adding a detector = one module
with `@register` + its import in its family's `__init__`.
"""

from __future__ import annotations

from pathlib import Path

import neighborwatch.models.baselines  # noqa: F401  (importing a family registers its detectors)
import neighborwatch.models.lan.detector  # noqa: F401
import neighborwatch.models.lan.posthoc  # noqa: F401
from neighborwatch.models.base import Detector
from neighborwatch.models.manifest import REGISTERED, read_manifest, register, write_manifest

__all__ = ["available", "detector_class", "load_detector", "read_manifest", "register", "write_manifest"]


def available() -> dict[str, type[Detector]]:
    return dict(sorted(REGISTERED.items()))


def detector_class(name: str) -> type[Detector]:
    classes = available()
    if name not in classes:
        raise KeyError(f"unknown detector {name!r}; known: {', '.join(classes)}")
    return classes[name]


def load_detector(path: str | Path) -> Detector:
    return detector_class(read_manifest(path)["name"]).load(path)
