"""`prepare`: raw logs → canonical events/labels (data.prepare) → sequences (sequences.build)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def prepare_work(
    src: Path,
    out: Path,
    fmt: str | None = None,
    mapping: str | None = None,
    keep_content: bool = False,
    collapse: bool = True,
    val_start: str | None = None,
    test_start: str | None = None,
    validation: str = "users",
) -> dict[str, Any]:
    from neighborwatch.data.prepare import ingest
    from neighborwatch.sequences.build import build_sequences

    summary = ingest(src, out, fmt=fmt, mapping=mapping, keep_content=keep_content)
    build_sequences(out, collapse=collapse, val_start=val_start, test_start=test_start, validation=validation)
    return summary
