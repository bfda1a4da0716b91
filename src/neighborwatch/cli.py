"""The `neighborwatch` command: one sub-command per pipeline stage.

Implementations are imported inside each command so that `neighborwatch --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(
    help="Real-time insider threat detection with LAN (learning adaptive neighbours).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", help="Folder to write the CERT-format release into."),
    release: str = typer.Option("r4.2", help="r4.2 | r5.2 | r6.2 (file formats and scenarios)."),
    users: int = typer.Option(100, help="Number of employees."),
    start: str = typer.Option("2010-01-02", help="First day (YYYY-MM-DD)."),
    end: str = typer.Option("2010-07-01", help="Last day, exclusive (YYYY-MM-DD)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same files."),
) -> None:
    """Generate a synthetic CERT-format organisation with insiders."""
    from neighborwatch.data.synth import synthesize

    synthesize(release=release, users=users, start=start, end=end, seed=seed, out=out)


@app.command()
def prepare(
    src: Path = typer.Argument(..., help="CERT release folder, or a log file/folder with --format."),
    out: Path = typer.Option(..., "--out", help="WORK folder to write."),
    format: Optional[str] = typer.Option(None, "--format", help="Own logs: csv | jsonl | parquet."),
    map: Optional[str] = typer.Option(
        None, "--map", help="Own logs: user=COL,time=COL,action=COL[,host=COL,source=COL,event_id=COL]."
    ),
    keep_content: bool = typer.Option(False, help="Keep raw content text (off by default)."),
    collapse: bool = typer.Option(True, help="Collapse repeated tokens within a session (label-blind)."),
    val_start: Optional[str] = typer.Option(None, help="Validation period start (default: release rule)."),
    test_start: Optional[str] = typer.Option(None, help="Test period start (default: release rule)."),
) -> None:
    """Ingest raw logs into WORK (events, labels, organisation, sequences, summary)."""
    from neighborwatch.pipeline import prepare_work

    prepare_work(
        src, out, fmt=format, mapping=map, keep_content=keep_content, collapse=collapse,
        val_start=val_start, test_start=test_start,
    )


@app.command()
def stats(work: Path = typer.Argument(..., help="Prepared WORK folder.")) -> None:
    """Print the dataset-statistics table (users, insiders, sessions, activities, samples)."""
    from neighborwatch.sequences.stats import print_stats

    print_stats(work)


@app.command()
def evaluate(
    work: Path = typer.Argument(..., help="Prepared WORK folder."),
    model: Path = typer.Argument(..., help="Saved detector folder (with detector.json)."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write all metrics + provenance as JSON."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write an HTML report (index.html) here."),
) -> None:
    """Threshold on validation, then score the test period once: real-time and post-hoc metrics."""
    from neighborwatch.evaluation.evaluate import run_evaluate

    run_evaluate(work, model, json_path=json_path, report_dir=report)


@app.command()
def benchmark(
    work: Path = typer.Argument(..., help="Prepared WORK folder."),
    table: str = typer.Option("all", "--table", help="realtime | posthoc | all."),
    seeds: int = typer.Option(3, "--seeds", help="Number of seeds (0, 1, ...); cells are mean ± std."),
    out: Path = typer.Option(Path("benchmark"), "--out", help="Folder for tables, plots and JSON."),
    methods: Optional[str] = typer.Option(None, "--methods", help="Comma-separated detector names (default: all)."),
    fast: bool = typer.Option(False, "--fast", help="Tiny hyper-parameter preset (smoke runs, tests)."),
    params: Optional[Path] = typer.Option(
        None, "--params", help='JSON file {"method": {option: value}} overriding the preset.'),
) -> None:
    """Train and evaluate LAN and every baseline on the same splits: the paper's comparison tables."""
    import json

    from neighborwatch.evaluation.benchmark import run_benchmark

    names = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
    overrides = json.loads(params.read_text()) if params else None
    try:
        run_benchmark(work, table=table, seeds=seeds, out=out, methods=names, fast=fast, overrides=overrides)
    except (ValueError, FileNotFoundError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2)


@app.command()
def demo(
    out: Path = typer.Option(Path("neighborwatch-demo"), "--out", help="Folder for everything the demo writes."),
    users: int = typer.Option(60, help="Employees in the synthetic organisation."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    """Synthesize a small organisation, prepare it and show what neighborwatch does with it."""
    from neighborwatch.demo import run_demo

    run_demo(out=out, users=users, seed=seed)


def main() -> None:  # pragma: no cover
    app()
