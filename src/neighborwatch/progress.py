"""One progress style for every long step: rich bars on a terminal, plain lines elsewhere.

Rich bars are invisible when the console is not a terminal (CI, nohup, a log file), so a long run
would print nothing until it ends. There, `progress()` prints one plain line per task every
`NEIGHBORWATCH_PROGRESS_EVERY` seconds (default 30) and when the task completes:
`encoding neighbour pool: 120/400 (30%) 12 s elapsed, ~28 s left`.
NEIGHBORWATCH_PROGRESS=0 silences both (the test suite does).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")
console = Console(stderr=True)


def enabled() -> bool:
    return os.environ.get("NEIGHBORWATCH_PROGRESS", "1") != "0"


def _every() -> float:
    return float(os.environ.get("NEIGHBORWATCH_PROGRESS_EVERY", "30"))


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float = 0.0
    started: float = 0.0
    printed: float = 0.0
    done: bool = False


class PlainProgress:
    """The part of rich's Progress API the project uses, printing plain lines to `console`."""

    def __init__(self, out: Console, disable: bool = False, every: float = 30.0) -> None:
        self.out, self.disable, self.every = out, disable, every
        self.tasks: dict[TaskID, _Task] = {}

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        for task in self.tasks.values():
            if not task.done and task.completed:
                self._print(task)

    def add_task(self, description: str, total: float | None = None, **_: Any) -> TaskID:
        now = time.monotonic()
        task_id = TaskID(len(self.tasks))
        self.tasks[task_id] = _Task(description, total, started=now, printed=now)
        return task_id

    def advance(self, task_id: TaskID, advance: float = 1.0) -> None:
        self.update(task_id, advance=advance)

    def update(
        self,
        task_id: TaskID,
        *,
        advance: float | None = None,
        completed: float | None = None,
        total: float | None = None,
        description: str | None = None,
        **_: Any,
    ) -> None:
        task = self.tasks[task_id]
        if total is not None:
            task.total = total
        if description is not None:
            task.description = description
        task.completed = completed if completed is not None else task.completed + (advance or 0.0)
        finished = task.total is not None and task.completed >= task.total
        now = time.monotonic()
        if finished and not task.done or now - task.printed >= self.every:
            self._print(task)
            task.printed = now
            task.done = finished

    def _print(self, task: _Task) -> None:
        if self.disable:
            return
        elapsed = time.monotonic() - task.started
        if task.total:
            share = task.completed / task.total
            left = f", ~{elapsed * (1 - share) / share:.0f} s left" if 0 < share < 1 else ""
            line = (
                f"{task.description}: {task.completed:.0f}/{task.total:.0f} ({100 * share:.0f}%) "
                f"{elapsed:.0f} s elapsed{left}"
            )
        else:
            line = f"{task.description}: {task.completed:.0f} {elapsed:.0f} s elapsed"
        self.out.print(line, markup=False, highlight=False)


def progress() -> Progress | PlainProgress:
    """A progress display to use as a context manager (`with progress() as p: ...`)."""
    if not console.is_terminal:
        return PlainProgress(console, disable=not enabled(), every=_every())
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled(),
        transient=False,
    )


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress display."""
    with progress() as p:
        task = p.add_task(description, total=total if total is not None else _len(items))
        for item in items:
            yield item
            p.advance(task)


def _len(items: Iterable) -> int | None:
    try:
        return len(items)  # type: ignore[arg-type]
    except TypeError:
        return None
