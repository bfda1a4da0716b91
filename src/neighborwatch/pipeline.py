"""`prepare`: raw logs → canonical events/labels (data.prepare) → sequences (sequences.build)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TOKEN_CHOICES: dict[str, str | None] = {"paper": None, "context": "context"}  # None: the release's default


def prepare_work(
    src: Path,
    out: Path,
    fmt: str | None = None,
    mapping: str | None = None,
    keep_content: bool = False,
    collapse: bool = True,
    val_start: str | None = None,
    test_start: str | None = None,
    tokens: str = "paper",
) -> dict[str, Any]:
    """tokens: 'paper' (7 words × 24 hours; own logs: action × hour) or 'context'
    (sequences.context_tokens)."""
    from neighborwatch.data.prepare import ingest
    from neighborwatch.sequences.build import build_sequences

    if tokens not in TOKEN_CHOICES:
        raise ValueError(f"--tokens must be one of {', '.join(TOKEN_CHOICES)}, got {tokens!r}")
    summary = ingest(src, out, fmt=fmt, mapping=mapping, keep_content=keep_content)
    build_sequences(out, collapse=collapse, val_start=val_start, test_start=test_start,
                    tokenizer=TOKEN_CHOICES[tokens])
    return summary
