"""Layout of a prepared WORK folder, in one place so that no stage guesses a path."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class WorkDir:
    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    @property
    def events(self) -> Path:
        """Canonical events, sorted by (time, event_id); row index = event row used everywhere."""
        return self.root / "events.parquet"

    @property
    def labels(self) -> Path:
        return self.root / "labels.parquet"

    @property
    def users(self) -> Path:
        """Organisation table (LDAP + psychometric), when the source has one."""
        return self.root / "users.parquet"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine.csv"

    @property
    def sequences(self) -> Path:
        return self.root / "sequences"

    def sequence_set(self, kind: str) -> Path:
        """kind: 'session' or 'day'."""
        return self.sequences / kind

    def require(self) -> WorkDir:
        if not self.events.exists():
            raise FileNotFoundError(
                f"{self.root} is not a prepared WORK folder (no events.parquet); "
                "run `neighborwatch prepare SRC --out WORK` first"
            )
        return self

    def read_summary(self) -> dict[str, Any]:
        return json.loads(self.summary.read_text()) if self.summary.exists() else {}


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, default=str) + "\n")
