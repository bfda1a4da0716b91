"""Detectors by name, so that CLI, evaluation and benchmark never import a detector directly.

Every detector's `save(dir)` writes `dir/detector.json` with at least `{"name": <name>}`
(use `write_manifest`); `load_detector(dir)` reads it and dispatches to that class's `load`.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from neighborwatch.models.base import Detector

_REGISTRY: dict[str, type[Detector]] = {}
# modules whose import registers detectors (kept lazy: torch-heavy imports only when needed)
_MODULES = ("neighborwatch.models.lan.detector", "neighborwatch.models.baselines")


def register(cls: type[Detector]) -> type[Detector]:
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"two detectors named {cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def _load_all() -> None:
    for module in _MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:  # a detector family not built yet
            if not (e.name or "").startswith("neighborwatch."):
                raise


def available() -> dict[str, type[Detector]]:
    _load_all()
    return dict(sorted(_REGISTRY.items()))


def detector_class(name: str) -> type[Detector]:
    classes = available()
    if name not in classes:
        raise KeyError(f"unknown detector {name!r}; known: {', '.join(classes)}")
    return classes[name]


def write_manifest(path: str | Path, name: str, config: dict[str, Any]) -> None:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "detector.json").write_text(json.dumps({"name": name, "config": config}, indent=2, default=str))


def read_manifest(path: str | Path, expect: str | None = None) -> dict[str, Any]:
    """The saved detector's manifest; with `expect`, refuse a folder holding another detector."""
    f = Path(path) / "detector.json"
    if not f.exists():
        raise FileNotFoundError(f"{path} is not a saved detector (no detector.json)")
    manifest = json.loads(f.read_text())
    if expect is not None and manifest.get("name") != expect:
        raise ValueError(f"{path} holds a {manifest.get('name')!r} detector, not {expect!r}")
    return manifest


def load_detector(path: str | Path) -> Detector:
    return detector_class(read_manifest(path)["name"]).load(path)
