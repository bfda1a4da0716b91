"""What a detector module needs to be found by name and reloaded: registration and manifests.

Every detector's `save(dir)` writes `dir/detector.json` with at least `{"name": <name>}`
(`write_manifest`); `models.registry.load_detector(dir)` reads it and dispatches to the class
registered under that name. This module sits below every detector (they import it), the
registry above all of them (it imports every family), so no import goes in a circle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from neighborwatch.models.base import Detector

REGISTERED: dict[str, type[Detector]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    if cls.name in REGISTERED and REGISTERED[cls.name] is not cls:
        raise ValueError(f"two detectors named {cls.name!r}")
    REGISTERED[cls.name] = cls
    return cls


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
