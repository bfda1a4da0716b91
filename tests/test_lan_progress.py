"""progress.py: plain progress lines where rich bars would be invisible (not a terminal)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from neighborwatch import progress as pg


@pytest.fixture
def captured(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(pg, "console", Console(file=buf, force_terminal=False, width=200))
    monkeypatch.setenv("NEIGHBORWATCH_PROGRESS", "1")
    return buf


def test_plain_lines_when_not_a_terminal(captured, monkeypatch) -> None:
    monkeypatch.setenv("NEIGHBORWATCH_PROGRESS_EVERY", "0")  # a line per update
    assert isinstance(pg.progress(), pg.PlainProgress)
    with pg.progress() as p:
        task = p.add_task("encoding pool", total=4)
        for _ in range(4):
            p.advance(task)
        p.update(task, description="renamed")
    lines = captured.getvalue().splitlines()
    assert lines[0].startswith("encoding pool: 1/4 (25%)") and "left" in lines[0]
    assert lines[3].startswith("encoding pool: 4/4 (100%)") and "left" not in lines[3]
    assert len(lines) == 5 and "\x1b[" not in captured.getvalue()  # no escape codes in a log file


def test_plain_lines_are_throttled_but_completion_is_always_printed(captured, monkeypatch) -> None:
    monkeypatch.setenv("NEIGHBORWATCH_PROGRESS_EVERY", "3600")
    assert list(pg.track(range(50), "scoring")) == list(range(50))
    lines = captured.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scoring: 50/50 (100%)")
    with pg.progress() as p:  # an unfinished task still reports where it stopped
        p.advance(p.add_task("training", total=10), 3)
    assert captured.getvalue().splitlines()[-1].startswith("training: 3/10 (30%)")


def test_silenced_and_terminal(captured, monkeypatch) -> None:
    monkeypatch.setenv("NEIGHBORWATCH_PROGRESS", "0")
    list(pg.track(range(5), "quiet"))
    assert captured.getvalue() == ""
    monkeypatch.setattr(pg, "console", Console(file=io.StringIO(), force_terminal=True))
    from rich.progress import Progress

    assert isinstance(pg.progress(), Progress)
