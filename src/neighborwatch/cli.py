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
    from neighborwatch.data.synth import print_summary, synthesize

    try:
        manifest = synthesize(release=release, users=users, start=start, end=end, seed=seed, out=out)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    print_summary(manifest, out)


@app.command()
def prepare(
    src: Path = typer.Argument(..., help="CERT release folder, or a log file/folder with --format."),
    out: Path = typer.Option(..., "--out", help="WORK folder to write."),
    format: Optional[str] = typer.Option(None, "--format", help="Own logs: csv | jsonl | parquet."),
    map: Optional[str] = typer.Option(
        None, "--map", help="Own logs: a preset (ecs | ocsf | winsec) and/or "
        "user=COL,time=COL,action=COL[,host=COL,source=COL,event_id=COL,...]; COL may be a nested.path."
    ),
    labels: Optional[Path] = typer.Option(
        None, "--labels", help="Known incidents CSV: event_id[,scenario] or user,start,end[,scenario]."),
    session_open: Optional[str] = typer.Option(
        None, help="Comma-separated actions that open a session (default: login/logon/sign-in/...)."),
    session_close: Optional[str] = typer.Option(
        None, help="Comma-separated actions that close a session (default: logout/logoff/sign-out/...)."),
    session_idle: Optional[float] = typer.Option(
        None, help="Minutes of inactivity that close a session (own logs: 30; CERT: off; 0 = off)."),
    session_max: Optional[float] = typer.Option(
        None, help="Maximum session length in hours (own logs: 24; CERT: off; 0 = off)."),
    keep_content: bool = typer.Option(False, help="Keep raw content text (off by default)."),
    collapse: bool = typer.Option(True, help="Collapse repeated tokens within a session (label-blind)."),
    val_start: Optional[str] = typer.Option(None, help="Validation period start (default: release rule)."),
    test_start: Optional[str] = typer.Option(None, help="Test period start (default: release rule)."),
    validation: str = typer.Option(
        "users", help="Validation set: 'users' (a seeded, insider-stratified share of users held out "
        "before the test cut) or 'period' (the month before the test cut)."),
) -> None:
    """Ingest raw logs into WORK (events, labels, organisation, sequences, summary)."""
    from neighborwatch.pipeline import prepare_work

    from neighborwatch.data.labels import LabelsError
    from neighborwatch.data.ownlogs import MappingError
    from neighborwatch.sequences.sessionize import SessionRuleError

    try:
        prepare_work(
            src, out, fmt=format, mapping=map, keep_content=keep_content, collapse=collapse,
            val_start=val_start, test_start=test_start, labels=labels, session_open=session_open,
            session_close=session_close, session_idle=session_idle, session_max=session_max, validation=validation,
        )
    except (MappingError, LabelsError, SessionRuleError, FileNotFoundError, ValueError) as e:  # user errors: exit 2
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None


@app.command()
def stats(work: Path = typer.Argument(..., help="Prepared WORK folder.")) -> None:
    """Print the dataset-statistics table (users, insiders, sessions, activities, samples)."""
    from neighborwatch.sequences.stats import print_stats

    print_stats(work)


@app.command()
def train(
    work: Path = typer.Argument(..., help="Prepared WORK folder."),
    out: Path = typer.Option(..., "--out", help="Model folder to write."),
    detector: str = typer.Option("lan", "--detector", help="Registered detector to train (default: LAN)."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Start from the detector's preset (standard | fast)."),
    config: Optional[Path] = typer.Option(None, "--config", help="LAN config JSON (defaults: the paper), or "
                                          "the other detector's parameters as JSON."),
    epochs: Optional[int] = typer.Option(None, help="Maximum epochs (paper: 10)."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size (paper: 512)."),
    lr: Optional[float] = typer.Option(None, help="AdamW learning rate (paper: 1e-5)."),
    k: Optional[int] = typer.Option(None, help="Graph nodes = query + k-1 neighbours (paper: 15)."),
    mode: Optional[str] = typer.Option(None, help="faithful (neighbours re-encoded) | fast (cached pool)."),
    encoder: Optional[str] = typer.Option(None, help="lstm | gru | rnn | transformer."),
    pooling: Optional[str] = typer.Option(None, help="attention | mean."),
    gnn: Optional[str] = typer.Option(None, help="gcn | gat."),
    graph: Optional[str] = typer.Option(None, help="weighted | cosine."),
    device: Optional[str] = typer.Option(None, help="auto | cpu | cuda."),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads (0 = torch default)."),
    seed: Optional[int] = typer.Option(None, help="Random seed (paper: 42)."),
    max_train_samples: Optional[int] = typer.Option(None, help="Random cap on training samples (0 = all)."),
    length_buckets: Optional[int] = typer.Option(None, help="Batches of similar prefix length (0 = random, paper)."),
) -> None:
    """Train a detector (LAN by default) on WORK's training period; model selection uses validation."""
    import json

    from neighborwatch.models.registry import detector_class
    from neighborwatch.models.train_work import build_config, train_work

    lan_options = dict(epochs=epochs, batch_size=batch_size, lr=lr, k=k, mode=mode, encoder=encoder,
                       pooling=pooling, gnn=gnn, graph=graph, threads=threads,
                       max_train_samples=max_train_samples, length_buckets=length_buckets)
    try:
        cls = detector_class(detector)
        if preset is not None and preset not in cls.presets:
            raise ValueError(f"{detector} has no preset {preset!r}; it has: {', '.join(cls.presets) or 'none'}")
        given = {name: v for name, v in lan_options.items() if v is not None}
        if detector == "lan" and preset is None:  # LAN's own options over the paper's defaults
            train_work(work, out, build_config(config, device=device, seed=seed, **given))
            return
        if given and detector != "lan":
            raise ValueError(f"--{next(iter(given)).replace('_', '-')} is a LAN option; give {detector}'s "
                             f"parameters as JSON with --config")
        params = {**cls.presets.get(preset or "", {}), **(json.loads(config.read_text()) if config else {}),
                  **given, **({"device": device} if device is not None else {})}
        train_work(work, out, detector, params=params, seed=seed)
    except KeyError as e:
        typer.echo(f"error: {e.args[0]}", err=True)
        raise typer.Exit(2) from None
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None


@app.command()
def evaluate(
    work: Path = typer.Argument(..., help="Prepared WORK folder."),
    model: Path = typer.Argument(..., help="Saved detector folder (with detector.json)."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write all metrics + provenance as JSON."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write an HTML report (index.html) here."),
) -> None:
    """Threshold on validation, then score the test period once: real-time and post-hoc metrics."""
    from neighborwatch.evaluation.evaluate import run_evaluate

    try:
        run_evaluate(work, model, json_path=json_path, report_dir=report)
    except (FileNotFoundError, KeyError) as e:  # missing WORK/model pieces: say what, no traceback
        typer.echo(f"error: {e.args[0] if e.args else e}", err=True)
        raise typer.Exit(2) from None


@app.command()
def benchmark(
    work: Path = typer.Argument(..., help="Prepared WORK folder."),
    table: str = typer.Option("all", "--table", help="realtime | posthoc | ablation (LAN variants) | all."),
    seeds: int = typer.Option(3, "--seeds", help="Number of seeds (0, 1, ...); cells are mean ± std."),
    out: Path = typer.Option(Path("benchmark"), "--out", help="Folder for tables, plots and JSON."),
    methods: Optional[str] = typer.Option(None, "--methods", help="Comma-separated detector names, or ablation rows e.g. 'lan,lan[k=1]' (default: all)."),
    fast: bool = typer.Option(False, "--fast", help="Tiny hyper-parameter preset (smoke runs, tests)."),
    params: Optional[Path] = typer.Option(
        None, "--params", help='JSON file {"method": {option: value}} overriding the preset.'),
    threads: int = typer.Option(0, "--threads", help="Cap torch/OpenMP threads per job (0 = library default, "
                                "or cores // jobs with --jobs)."),
    jobs: int = typer.Option(1, "--jobs", help="Fits run in parallel in this many worker processes."),
    resume: bool = typer.Option(False, "--resume", help="Keep the finished jobs of OUT/results.json; run the rest."),
) -> None:
    """Train and evaluate LAN and every baseline on the same splits: the paper's comparison tables."""
    import json
    import re

    from neighborwatch.evaluation.benchmark import run_benchmark

    # commas inside [...] belong to an ablation row's name, e.g. lan[k=1,neighbours=none]
    names = [m.strip() for m in re.split(r",(?![^\[]*\])", methods) if m.strip()] if methods else None
    overrides = json.loads(params.read_text()) if params else None
    try:
        run_benchmark(work, table=table, seeds=seeds, out=out, methods=names, fast=fast, overrides=overrides,
                      threads=threads, jobs=jobs, resume=resume)
    except (ValueError, FileNotFoundError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2)


@app.command()
def demo(
    out: Path = typer.Option(Path("neighborwatch-demo"), "--out", help="Folder for everything the demo writes."),
    users: int = typer.Option(60, help="Employees in the synthetic organisation."),
    seed: int = typer.Option(0, help="Random seed."),
    live: bool = typer.Option(False, "--live", help="Finish by serving the model and replaying the test period live."),
) -> None:
    """Synthetic organisation → prepare → train LAN → evaluate (→ live service): the whole pipeline."""
    from neighborwatch.demo import run_demo

    run_demo(out=out, users=users, seed=seed, live=live)


@app.command()
def serve(
    model: Path = typer.Argument(..., help="Saved model folder (LAN or any detector with a stream scorer)."),
    work: Optional[Path] = typer.Option(None, "--work", help="WORK the model was trained on (tokenizer, collapse, validation for thresholds)."),
    redis: Optional[str] = typer.Option(None, "--redis", help="redis://HOST:PORT/DB: consume the user-partitioned streams (durable)."),
    port: int = typer.Option(8750, "--port", help="HTTP port (bound to --host)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    token: Optional[str] = typer.Option(None, "--token", envvar="NEIGHBORWATCH_TOKEN", help="Bearer token (generated if absent)."),
    sink: list[str] = typer.Option([], "--sink", help="jsonl:PATH | scores:PATH | cef+udp://H:P | cef+tcp://H:P | webhook:URL (repeatable)."),
    state: Path = typer.Option(Path("neighborwatch-live"), "--state", help="Folder for snapshots, alerts database and thresholds."),
    partitions: int = typer.Option(1, "--partitions", help="Number of user partitions (Redis streams)."),
    only: Optional[str] = typer.Option(None, "--only", help="Comma-separated partitions this worker consumes (default: all)."),
    consumer: str = typer.Option("worker-0", "--consumer", help="Stable consumer name of this worker in the Redis group."),
    prefix: str = typer.Option("neighborwatch:events", "--prefix", help="Redis stream name prefix (streams PREFIX:0..N-1)."),
    budget: float = typer.Option(5.0, "--budget", help="Alerts per day of each kind to calibrate thresholds to."),
    half_life: float = typer.Option(24.0, "--half-life", help="Risk half-life in hours."),
    thresholds: Optional[Path] = typer.Option(None, "--thresholds", help="thresholds.json to use instead of calibrating."),
    window: float = typer.Option(5.0, "--window", help="Out-of-order window in seconds of event time."),
    snapshot_every: float = typer.Option(5.0, "--snapshot-every", help="Seconds between state snapshots."),
    threads: int = typer.Option(1, "--threads", help="Torch threads of the scoring worker."),
    event_years: str = typer.Option("1970:2099", "--event-years", help="FIRST:LAST year of event times accepted at intake."),
    max_deliveries: int = typer.Option(5, "--max-deliveries", help="Redis deliveries of one entry before it is dead-lettered."),
    max_sessions: int = typer.Option(100_000, "--max-sessions", help="Open sessions kept; beyond, the least recently active is closed (0 = no cap)."),
    idle_session: float = typer.Option(0.0, "--idle-session", help="Close sessions idle this many seconds of event time (0 = never)."),
) -> None:
    """Run the live detector: HTTP API + dashboard, optional Redis source, alert sinks."""
    from neighborwatch.service.server import ServeOptions
    from neighborwatch.service.server import serve as run_serve

    run_serve(ServeOptions(
        model=model, work=work, redis=redis, host=host, port=port, token=token, sinks=list(sink), state=state,
        partitions=partitions, only=[int(x) for x in only.split(",")] if only else None, consumer=consumer, prefix=prefix,
        budget_per_day=budget, half_life_h=half_life, thresholds=thresholds, window_s=window,
        snapshot_every_s=snapshot_every, threads=threads, years=_year_range(event_years),
        max_deliveries=max_deliveries, max_sessions=max_sessions, idle_session_s=idle_session,
    ))


def _year_range(text: str) -> tuple[int, int]:
    try:
        first, last = (int(x) for x in text.split(":"))
        from neighborwatch.streaming.events import TimeRange

        TimeRange(first, last)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give FIRST:LAST years, e.g. 1970:2099", param_hint="--event-years") from None
    return first, last


@app.command()
def replay(
    work: Path = typer.Argument(..., help="Prepared WORK folder."),
    to: str = typer.Option(..., "--to", help="http://HOST:PORT of a running service, or redis://HOST:PORT/DB."),
    speed: float = typer.Option(0.0, "--speed", help="Log seconds per wall second (0 = as fast as accepted)."),
    split: str = typer.Option("test", "--split", help="test | validation | train | all."),
    token: Optional[str] = typer.Option(None, "--token", envvar="NEIGHBORWATCH_TOKEN", help="Bearer token of the service."),
    partitions: int = typer.Option(1, "--partitions", help="With redis: number of user partitions."),
    prefix: str = typer.Option("neighborwatch:events", "--prefix", help="With redis: stream name prefix."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Send at most this many events."),
) -> None:
    """Replay a prepared period, in time order, into a running service (HTTP or Redis)."""
    from neighborwatch.progress import console
    from neighborwatch.replay import replay as run_replay

    result = run_replay(work, to, speed=speed, split=split, token=token, partitions=partitions, limit=limit,
                        prefix=prefix)
    console.print(result)


def main() -> None:  # pragma: no cover
    app()
