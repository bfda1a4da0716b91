"""`prepare`: raw logs → canonical events/labels (data.prepare) → sequences (sequences.build)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: --tokens: None = the release's default tokenizer (7 words × 24 hours; own logs: action × hour).
#: "auto" = context tokens for CERT releases, where they measured best on two real-insider dev
#: orgs (every detector, +0.08-0.22 real-time AUC), and the plain tokenizer for own logs, where
#: they are not measured yet.
TOKEN_CHOICES: dict[str, str | None] = {"auto": None, "context": "context", "paper": None}


def prepare_work(
    src: Path,
    out: Path,
    fmt: str | None = None,
    mapping: str | None = None,
    keep_content: bool = False,
    collapse: bool = True,
    val_start: str | None = None,
    test_start: str | None = None,
    labels: Path | None = None,
    session_open: str | None = None,
    session_close: str | None = None,
    session_idle: float | None = None,
    session_max: float | None = None,
    validation: str = "users",
    tokens: str = "auto",
    start_token: str = "plain",
    stage: Any = None,
    reader: Any = None,
) -> dict[str, Any]:
    """`session_*`: comma-separated open/close actions, idle gap in minutes, maximum session
    length in hours (None = the default for the data: the paper's rule for CERT); `tokens`:
    'auto' (default: context for CERT releases, else paper), 'context' (sequences.context_tokens)
    or 'paper' (7 words × 24 hours; own logs: action × hour); `start_token`: 'plain' (one
    start-of-session token) or 'peer' (one per peer group, `sequences.peers`); `stage`: see
    `sequences.build.build_sequences` (the Ray engine's per-user tokenize + sessionize); `reader`: see
    `data.prepare.ingest` (the Ray engine's reading and sorting)."""
    from neighborwatch.data.prepare import ingest
    from neighborwatch.sequences.build import build_sequences, is_cert
    from neighborwatch.sequences.peers import START_TOKENS
    from neighborwatch.sequences.sessionize import make_rule

    if tokens not in TOKEN_CHOICES:
        raise ValueError(f"--tokens must be one of {', '.join(TOKEN_CHOICES)}, got {tokens!r}")
    if start_token not in START_TOKENS:
        raise ValueError(f"--start-token must be one of {', '.join(START_TOKENS)}, got {start_token!r}")
    make_rule(False, session_open, session_close, session_idle, session_max)  # bad options fail before ingest
    summary = ingest(src, out, fmt=fmt, mapping=mapping, keep_content=keep_content, labels=labels, reader=reader)
    rule = make_rule(is_cert(summary), session_open, session_close, session_idle, session_max)
    build_sequences(
        out,
        collapse=collapse,
        val_start=val_start,
        test_start=test_start,
        session_rule=rule,
        validation=validation,
        tokenizer="context" if tokens == "auto" and is_cert(summary) else TOKEN_CHOICES[tokens],
        peer_start=start_token == "peer",
        stage=stage,
    )
    return summary
