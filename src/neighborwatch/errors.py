"""User mistakes as one line with a hint, and the rule for what counts as one.

Library code raises `UserError` (or the builtin `FileNotFoundError` / `NotADirectoryError` /
`ValueError` it already raises for bad paths and values); the CLI prints `user_message(exc)`
and exits 2 — no traceback, because a traceback tells a user that the program broke, not that
an argument was wrong. Anything `user_message` does not recognise is a bug and keeps its
traceback. This module sits at the bottom layer: it imports nothing from the package.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

EXIT_USER_ERROR = 2


class UserError(Exception):
    """A mistake the user can fix: `message` says what is wrong, `hint` what to do about it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return one_line(self.message, self.hint)


def one_line(message: str, hint: str | None = None) -> str:
    text = " ".join(str(message).split())  # multi-line library messages become one line
    return f"{text} (hint: {hint})" if hint else text


def _is_connection_error(exc: BaseException) -> bool:
    """Refused / unreachable network peers, from the stdlib, httpx or redis-py (not imported here)."""
    if isinstance(exc, ConnectionError):
        return True
    return any(
        c.__module__.split(".")[0] in ("httpx", "httpcore", "redis") and "Connect" in c.__name__
        for c in type(exc).__mro__
    )


def user_message(exc: BaseException) -> str | None:
    """The one-line message for a user mistake, or None when `exc` is a bug (keep the traceback)."""
    if isinstance(exc, UserError):
        return str(exc)
    if _is_connection_error(exc):
        return one_line(f"cannot connect: {exc}", "is the service (or Redis) running at that address?")
    if isinstance(exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError)):
        detail = exc.args[0] if len(exc.args) == 1 else exc
        if isinstance(exc, OSError) and exc.filename is not None:
            detail = f"{exc.strerror or 'not found'}: {exc.filename}"
        return one_line(str(detail), "check the path")
    if isinstance(exc, ValueError):
        return one_line(str(exc), "check the option values (--help lists them)")
    return None


def require_dir(path: Path, what: str, hint: str | None = None) -> Path:
    """`path` as an existing folder, else a `UserError` naming `what` was expected there."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{what} {path} does not exist", hint)
    if not path.is_dir():
        raise UserError(f"{what} {path} is not a folder", hint)
    return path


@contextmanager
def removed_on_failure(*paths: Path | None, keep_if: str | None = None) -> Iterator[None]:
    """Folders that did not exist before the block are deleted again if it fails: a failed
    command leaves nothing half-written behind. A folder that already holds `keep_if` (e.g. the
    benchmark's results.json, written after every finished job) is kept, so it can be resumed."""
    fresh = [Path(p) for p in paths if p is not None and not Path(p).exists()]
    try:
        yield
    except BaseException:
        for p in fresh:
            if keep_if is None or not (p / keep_if).exists():
                shutil.rmtree(p, ignore_errors=True)
        raise
