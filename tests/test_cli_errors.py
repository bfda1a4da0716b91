"""Every command answers a user mistake the same way: one line with a hint, exit 2, no traceback
(unless --debug), and nothing created on disk."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neighborwatch.cli import app


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


@pytest.fixture
def place(tmp_path):
    """A folder with a file that is not a WORK and a fake model folder without a manifest."""
    (tmp_path / "not-a-work").mkdir()
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "file.txt").write_text("x")
    return tmp_path


def cases(t: Path) -> list[tuple[str, list[str], Path | None]]:
    """(name, argv, a path that must not exist afterwards)."""
    missing = str(t / "no-such-folder")
    return [
        ("synth bad users", ["synth", "--out", str(t / "s-out"), "--users", "-3"], t / "s-out"),
        ("synth bad release", ["synth", "--out", str(t / "s2"), "--release", "r9.9"], t / "s2"),
        ("prepare missing source", ["prepare", missing, "--out", str(t / "p-out")], t / "p-out"),
        ("stats missing work", ["stats", missing], None),
        ("stats not a work", ["stats", str(t / "not-a-work")], None),
        ("train missing work", ["train", missing, "--out", str(t / "m-out")], t / "m-out"),
        ("evaluate bad model", ["evaluate", str(t / "not-a-work"), str(t / "not-a-model")], None),
        ("benchmark missing work", ["benchmark", missing, "--out", str(t / "b-out")], t / "b-out"),
        ("demo bad flag value", ["demo", "--out", str(t / "d-out"), "--users", "lots"], t / "d-out"),
        ("serve bad model dir", ["serve", str(t / "not-a-model"), "--state", str(t / "st")], t / "st"),
        ("serve model is a file", ["serve", str(t / "file.txt"), "--state", str(t / "st2")], t / "st2"),
        ("replay unreachable service", ["replay", missing, "--to", f"http://127.0.0.1:{_dead_port()}"], None),
        ("replay bad target", ["replay", missing, "--to", "ftp://x"], None),
        ("unknown option", ["stats", missing, "--colour"], None),
    ]


def test_every_command_answers_a_mistake_in_one_line(place) -> None:
    runner = CliRunner()
    for name, argv, must_not_exist in cases(place):
        res = runner.invoke(app, argv)
        out = res.output.strip()
        assert res.exit_code == 2, (name, res.exit_code, out)
        assert out.startswith("error: ") and "\n" not in out, (name, out)
        assert "hint:" in out, (name, out)
        assert (
            "Traceback" not in out and not isinstance(res.exception, Exception) or isinstance(res.exception, SystemExit)
        ), (name, res.exception)
        if must_not_exist is not None:
            assert not must_not_exist.exists(), (name, "created", must_not_exist)


def test_messages_say_what_is_wrong(place) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["prepare", str(place / "nope"), "--out", str(place / "o")]).output
    assert "nope does not exist" in out
    port = _dead_port()
    out = runner.invoke(app, ["replay", str(place), "--to", f"http://127.0.0.1:{port}"]).output
    assert f"127.0.0.1:{port}" in out and "neighborwatch serve" in out
    out = runner.invoke(app, ["serve", str(place / "not-a-model")]).output
    assert "no detector.json" in out


def test_debug_keeps_the_traceback(place) -> None:
    res = CliRunner().invoke(app, ["--debug", "stats", str(place / "nope")])
    assert res.exit_code != 0 and res.exception is not None and not isinstance(res.exception, SystemExit)


def test_version_and_boolean_flags() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.startswith("neighborwatch ")
    helps = {
        cmd: runner.invoke(app, [cmd, "--help"], env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"}).output
        for cmd in ("demo", "prepare", "benchmark")
    }
    assert "--live" in helps["demo"] and "--no-live" in helps["demo"]
    assert "--exit-after-replay" in helps["demo"]
    assert "--no-collapse" in helps["prepare"] and "--no-keep-content" in helps["prepare"]
    assert "--no-fast" in helps["benchmark"]


def test_a_failed_command_removes_its_new_folder_unless_it_holds_resumable_work(tmp_path):
    import pytest

    from neighborwatch.errors import removed_on_failure

    plain, bench = tmp_path / "plain", tmp_path / "bench"
    with pytest.raises(KeyboardInterrupt), removed_on_failure(plain):
        plain.mkdir()
        (plain / "half.txt").write_text("x")
        raise KeyboardInterrupt
    assert not plain.exists()
    with pytest.raises(KeyboardInterrupt), removed_on_failure(bench, keep_if="results.json"):
        bench.mkdir()
        (bench / "results.json").write_text("{}")  # a finished job: `benchmark --resume` continues
        raise KeyboardInterrupt
    assert (bench / "results.json").exists()
