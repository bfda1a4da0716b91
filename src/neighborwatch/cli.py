"""The `neighborwatch` command: one sub-command per pipeline stage.

Implementations are imported inside each command so that `neighborwatch --help` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from neighborwatch.errors import EXIT_USER_ERROR, UserError, one_line, removed_on_failure, require_dir, user_message

_debug = False  # set by --debug: user errors keep their traceback too


class _OneLineErrors(TyperGroup):
    """Every command's user mistakes end the same way: `error: ... (hint: ...)`, exit 2."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        global _debug
        _debug = False
        argv = list(sys.argv[1:] if args is None else args)
        try:
            rv = super().main(
                argv, prog_name, complete_var, standalone_mode=False, windows_expand_args=windows_expand_args, **extra
            )
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        except Exception as e:
            if hasattr(e, "format_message") and hasattr(e, "exit_code"):  # click's usage errors
                sub = next((a for a in argv if a in self.commands), None)
                typer.echo(
                    "error: " + one_line(e.format_message(), f"neighborwatch {sub + ' ' if sub else ''}--help"),
                    err=True,
                )
                sys.exit(e.exit_code)
            msg = user_message(e)
            if msg is None or _debug:
                raise
            typer.echo(f"error: {msg}", err=True)
            sys.exit(EXIT_USER_ERROR)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    help="Real-time insider threat detection with LAN (learning adaptive neighbours).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"neighborwatch {version('neighborwatch')}")
        except PackageNotFoundError:  # running from a source tree without an install
            typer.echo("neighborwatch (not installed)")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug/--no-debug", help="Show tracebacks for user errors too."),
) -> None:
    global _debug
    _debug = debug


def _model_dir(path: Path) -> Path:
    hint = "give the --out folder of `neighborwatch train`"
    if not path.is_dir():
        raise UserError(
            f"{path} is not a saved detector folder ({'not a folder' if path.exists() else 'no such folder'})", hint
        )
    if not (path / "detector.json").exists():
        raise UserError(f"{path} is not a saved detector folder (no detector.json)", hint)
    return path


def _work_dir(path: Path) -> Path:
    require_dir(path, "WORK folder", "run `neighborwatch prepare SRC --out WORK` first")
    if not (path / "events.parquet").exists():
        raise UserError(
            f"{path} is not a prepared WORK folder (no events.parquet)",
            "run `neighborwatch prepare SRC --out WORK` first",
        )
    return path


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", help="Folder to write the CERT-format release into."),
    release: str = typer.Option("r4.2", help="r4.2 | r5.2 | r6.2 (file formats and scenarios)."),
    users: int = typer.Option(100, help="Number of employees."),
    start: str = typer.Option("2010-01-02", help="First day (YYYY-MM-DD)."),
    end: str = typer.Option("2010-07-01", help="Last day, exclusive (YYYY-MM-DD)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same files."),
    insiders: str = typer.Option("synthetic", help="synthetic (generated scenarios) | real (replay CERT answer rows)."),
    answers: Path | None = typer.Option(
        None,
        "--answers",
        help="With --insiders real: a CERT release's answers/ folder (r4.2 or r5.2), read at run time.",
    ),
) -> None:
    """Generate a synthetic CERT-format organisation with insiders."""
    from neighborwatch.data.synth import print_summary, synthesize

    with removed_on_failure(out):
        try:
            manifest = synthesize(
                release=release,
                users=users,
                start=start,
                end=end,
                seed=seed,
                out=out,
                insiders=insiders,
                answers=answers,
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    print_summary(manifest, out)


@app.command()
def prepare(
    src: Path = typer.Argument(..., help="CERT release folder, or a log file/folder with --format."),
    out: Path = typer.Option(..., "--out", help="WORK folder to write."),
    format: str | None = typer.Option(None, "--format", help="Own logs: csv | jsonl | parquet."),
    map: str | None = typer.Option(
        None,
        "--map",
        help="Own logs: a preset (ecs | ocsf | winsec) and/or "
        "user=COL,time=COL,action=COL[,host=COL,source=COL,event_id=COL,...]; COL may be a nested.path.",
    ),
    labels: Path | None = typer.Option(
        None, "--labels", help="Known incidents CSV: event_id[,scenario] or user,start,end[,scenario]."
    ),
    session_open: str | None = typer.Option(
        None, help="Comma-separated actions that open a session (default: login/logon/sign-in/...)."
    ),
    session_close: str | None = typer.Option(
        None, help="Comma-separated actions that close a session (default: logout/logoff/sign-out/...)."
    ),
    session_idle: float | None = typer.Option(
        None, help="Minutes of inactivity that close a session (own logs: 30; CERT: off; 0 = off)."
    ),
    session_max: float | None = typer.Option(
        None, help="Maximum session length in hours (own logs: 24; CERT: off; 0 = off)."
    ),
    keep_content: bool = typer.Option(
        False, "--keep-content/--no-keep-content", help="Keep raw content text (off by default)."
    ),
    collapse: bool = typer.Option(
        True, "--collapse/--no-collapse", help="Collapse repeated tokens within a session (label-blind)."
    ),
    val_start: str | None = typer.Option(None, help="Validation period start (default: release rule)."),
    test_start: str | None = typer.Option(None, help="Test period start (default: release rule)."),
    validation: str = typer.Option(
        "users",
        help="Validation set: 'users' (a seeded, insider-stratified share of users held out "
        "before the test cut) or 'period' (the month before the test cut).",
    ),
    tokens: str = typer.Option(
        "auto",
        help="auto (context for CERT releases, paper for own logs) | context (user-relative context; "
        "measured best on two CERT-format dev orgs) | paper (7 words x 24 hours; own logs: action x hour).",
    ),
    start_token: str = typer.Option(
        "plain",
        "--start-token",
        help="plain (one start-of-session token) | peer (one per peer group: the LDAP role, else "
        "activity clusters of users; every sequence model then conditions on who acts).",
    ),
    engine: str = typer.Option(
        "local",
        "--engine",
        help="local | ray (read + canonicalise by file piece, sort by week, sessionize by user on Ray).",
    ),
    address: str | None = typer.Option(None, "--address", help="Ray cluster address (default: a local Ray)."),
    chunk_mb: float = typer.Option(
        64.0, "--chunk-mb", help="--engine ray: MiB of a log file per reading task (cut on line boundaries)."
    ),
) -> None:
    """Ingest raw logs into WORK (events, labels, organisation, sequences, summary)."""
    from neighborwatch.data.labels import LabelsError
    from neighborwatch.data.ownlogs import MappingError
    from neighborwatch.pipeline import TOKEN_CHOICES, prepare_work
    from neighborwatch.sequences.sessionize import SessionRuleError

    if not src.exists():
        raise UserError(f"{src} does not exist", "give a CERT release folder, or a log file/folder with --format")
    if tokens not in TOKEN_CHOICES:
        raise typer.BadParameter(f"--tokens must be one of {', '.join(TOKEN_CHOICES)}, got {tokens!r}")
    if not chunk_mb > 0:
        raise typer.BadParameter(f"--chunk-mb must be above 0, got {chunk_mb}")
    from neighborwatch.scale.cluster import check_engine

    run: Any = prepare_work
    if check_engine(engine) == "ray":
        import functools

        from neighborwatch.scale.prepare import prepare_on_ray

        run = functools.partial(prepare_on_ray, address=address, chunk_mb=chunk_mb)
    with removed_on_failure(out):
        try:
            run(
                src,
                out,
                fmt=format,
                mapping=map,
                keep_content=keep_content,
                collapse=collapse,
                val_start=val_start,
                test_start=test_start,
                labels=labels,
                session_open=session_open,
                session_close=session_close,
                session_idle=session_idle,
                session_max=session_max,
                validation=validation,
                tokens=tokens,
                start_token=start_token,
            )
        except (MappingError, LabelsError, SessionRuleError, FileNotFoundError, ValueError) as e:  # user errors: exit 2
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None


@app.command()
def stats(work: Path = typer.Argument(..., help="Prepared WORK folder.")) -> None:
    """Print the dataset-statistics table (users, insiders, sessions, activities, samples)."""
    from neighborwatch.sequences.stats import print_stats

    print_stats(_work_dir(work))


@app.command()
def train(
    work: Path = typer.Argument(..., help="Prepared WORK folder."),
    out: Path = typer.Option(..., "--out", help="Model folder to write."),
    detector: str = typer.Option("lan", "--detector", help="Registered detector to train (default: LAN)."),
    preset: str | None = typer.Option(
        None,
        "--preset",
        help="Start from a preset of the detector (LAN: quick = default, paper = LAN.md §4 exactly; others: standard | fast).",
    ),
    config: Path | None = typer.Option(
        None, "--config", help="LAN config JSON (instead of a preset), or the other detector's parameters as JSON."
    ),
    epochs: int | None = typer.Option(None, help="Maximum epochs (paper: 10)."),
    batch_size: int | None = typer.Option(None, help="Batch size (paper: 512)."),
    lr: float | None = typer.Option(None, help="AdamW learning rate (paper: 1e-5)."),
    k: int | None = typer.Option(None, help="Graph nodes = query + k-1 neighbours (paper: 15)."),
    mode: str | None = typer.Option(None, help="faithful (neighbours re-encoded) | fast (cached pool)."),
    encoder: str | None = typer.Option(None, help="lstm | gru | rnn | transformer."),
    pooling: str | None = typer.Option(None, help="attention | mean."),
    gnn: str | None = typer.Option(None, help="gcn | gat."),
    graph: str | None = typer.Option(None, help="weighted | cosine."),
    device: str | None = typer.Option(None, help="auto | cpu | cuda."),
    threads: int | None = typer.Option(None, help="torch CPU threads (0 = torch default)."),
    seed: int | None = typer.Option(None, help="Random seed (paper: 42)."),
    max_train_samples: int | None = typer.Option(None, help="Random cap on training samples (0 = all)."),
    length_buckets: int | None = typer.Option(None, help="Batches of similar prefix length (0 = random, paper)."),
) -> None:
    """Train a detector (LAN by default) on WORK's training period; model selection uses validation."""
    import json

    from neighborwatch.models.registry import detector_class
    from neighborwatch.models.train_work import build_config, train_work

    lan_options = dict(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        k=k,
        mode=mode,
        encoder=encoder,
        pooling=pooling,
        gnn=gnn,
        graph=graph,
        threads=threads,
        max_train_samples=max_train_samples,
        length_buckets=length_buckets,
    )
    _work_dir(work)
    with removed_on_failure(out):
        try:
            cls = detector_class(detector)
            if preset is not None and preset not in cls.presets:
                raise ValueError(f"{detector} has no preset {preset!r}; it has: {', '.join(cls.presets) or 'none'}")
            given = {name: v for name, v in lan_options.items() if v is not None}
            if detector == "lan":  # LAN's own options over its preset (default quick) or config file
                train_work(work, out, build_config(config, preset, device=device, seed=seed, **given))
                return
            if given and detector != "lan":
                raise ValueError(
                    f"--{next(iter(given)).replace('_', '-')} is a LAN option; give {detector}'s "
                    f"parameters as JSON with --config"
                )
            params = {
                **cls.presets.get(preset or "", {}),
                **(json.loads(config.read_text()) if config else {}),
                **given,
                **({"device": device} if device is not None else {}),
            }
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
    json_path: Path | None = typer.Option(None, "--json", help="Write all metrics + provenance as JSON."),
    report: Path | None = typer.Option(None, "--report", help="Write an HTML report (index.html) here."),
    budget: float = typer.Option(
        5.0, "--budget", min=0.01, help="Analyst budget: incidents per 100 users per day (alerts block)."
    ),
) -> None:
    """Threshold on validation, then score the test period once: real-time and post-hoc metrics."""
    from neighborwatch.evaluation.evaluate import run_evaluate

    _work_dir(work)
    _model_dir(model)
    with removed_on_failure(report):
        try:
            run_evaluate(work, model, json_path=json_path, report_dir=report, budget_per_day=budget)
        except KeyError as e:  # missing WORK/model pieces: say what
            raise UserError(
                f"missing {e.args[0] if e.args else e}", "was WORK prepared and MODEL trained by this version?"
            ) from e


@app.command()
def benchmark(
    work: Path = typer.Argument(..., help="Prepared WORK folder."),
    table: str = typer.Option("all", "--table", help="realtime | posthoc | ablation (LAN variants) | all."),
    seeds: int = typer.Option(3, "--seeds", help="Number of seeds (0, 1, ...); cells are mean ± std."),
    out: Path = typer.Option(Path("benchmark"), "--out", help="Folder for tables, plots and JSON."),
    methods: str | None = typer.Option(
        None, "--methods", help="Comma-separated detector names, or ablation rows e.g. 'lan,lan[k=5]' (default: all)."
    ),
    fast: bool = typer.Option(False, "--fast/--no-fast", help="Tiny hyper-parameter preset (smoke runs, tests)."),
    params: Path | None = typer.Option(
        None, "--params", help='JSON file {"method": {option: value}} overriding the preset.'
    ),
    threads: int = typer.Option(
        0, "--threads", help="Cap torch/OpenMP threads per job (0 = library default, or cores // jobs with --jobs)."
    ),
    jobs: int = typer.Option(1, "--jobs", help="Local engine: fits run in parallel in this many worker processes."),
    engine: str = typer.Option("local", "--engine", help="local | ray (each method × seed a Ray task)."),
    address: str | None = typer.Option(None, "--address", help="Ray cluster address (default: a local Ray)."),
    resume: bool = typer.Option(False, "--resume", help="Keep the finished jobs of OUT/results.json; run the rest."),
    gpus: float = typer.Option(0.0, "--gpus", help="With --engine ray: GPUs each job asks for (0.5 = two share one)."),
    levels: str | None = typer.Option(
        None, "--levels", help="Only these levels, e.g. 'realtime,session' (default: all of the table's)."
    ),
) -> None:
    """Train and evaluate LAN and every baseline on the same splits: the paper's comparison tables."""
    import json
    import re

    from neighborwatch.evaluation.benchmark import run_benchmark

    _work_dir(work)
    # commas inside [...] belong to an ablation row's name, e.g. lan[k=1,neighbours=none]
    names = [m.strip() for m in re.split(r",(?![^\[]*\])", methods) if m.strip()] if methods else None
    overrides = json.loads(params.read_text()) if params else None
    runner = None
    if engine != "local":
        from neighborwatch.scale.benchmark import ray_runner
        from neighborwatch.scale.cluster import check_engine

        check_engine(engine)
        runner = ray_runner(address, threads=threads or 1, gpus=gpus)
    with removed_on_failure(out, keep_if="results.json"):  # finished jobs stay resumable
        run_benchmark(
            work,
            table=table,
            seeds=seeds,
            out=out,
            methods=names,
            fast=fast,
            overrides=overrides,
            threads=threads,
            runner=runner,
            resume=resume,
            jobs=jobs,
            levels=[lv.strip() for lv in levels.split(",") if lv.strip()] if levels else None,
        )


@app.command()
def score(
    work: Path = typer.Argument(..., help="Prepared WORK folder."),
    model: Path = typer.Argument(..., help="Saved detector folder (with detector.json)."),
    out: Path = typer.Option(..., "--out", help="SCORES folder: Parquet per level, partitioned by user."),
    split: str = typer.Option("test", "--split", help="test | validation | train | all."),
    engine: str = typer.Option("local", "--engine", help="local | ray (users in chunks on Ray actors)."),
    address: str | None = typer.Option(None, "--address", help="Ray cluster address (default: a local Ray)."),
    workers: int = typer.Option(0, "--workers", help="Ray actors, each loads the model once (0 = one per CPU)."),
) -> None:
    """Batch scores of a period: real-time per activity, post-hoc per session and user-day."""
    from neighborwatch.progress import console
    from neighborwatch.scale.score import score_work

    try:
        summary = score_work(work, model, out, split=split, engine=engine, address=address, workers=workers)
    except (ValueError, FileNotFoundError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    console.print(f"scored {summary['users']} users ({summary['rows']}) in {summary['seconds']:.1f} s → {out}")


@app.command()
def demo(
    out: Path = typer.Option(Path("neighborwatch-demo"), "--out", help="Folder for everything the demo writes."),
    users: int = typer.Option(60, min=10, help="Employees in the synthetic organisation."),
    seed: int = typer.Option(0, help="Random seed."),
    live: bool = typer.Option(
        False, "--live/--no-live", help="Finish by serving the model and replaying the test period live."
    ),
    exit_after_replay: bool = typer.Option(
        False,
        "--exit-after-replay/--keep-serving",
        help="With --live: stop once the replay is scored (scripts) instead of serving until Ctrl-C.",
    ),
    retrain: bool = typer.Option(
        False, "--retrain/--reuse", help="Train again even if OUT already holds a trained demo."
    ),
) -> None:
    """Synthetic organisation → prepare → train LAN → evaluate (→ live service): the whole pipeline.

    With --live and an OUT that already holds a trained demo, goes straight to the live step."""
    from neighborwatch.demo import run_demo

    run_demo(out=out, users=users, seed=seed, live=live, keep_serving=not exit_after_replay, retrain=retrain)


@app.command()
def serve(
    model: Path = typer.Argument(..., help="Saved model folder (LAN or any detector with a stream scorer)."),
    work: Path | None = typer.Option(
        None, "--work", help="WORK the model was trained on (tokenizer, collapse, validation for thresholds)."
    ),
    redis: str | None = typer.Option(
        None, "--redis", help="redis://HOST:PORT/DB: consume the user-partitioned streams (durable)."
    ),
    port: int = typer.Option(8750, "--port", help="HTTP port (bound to --host)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    token: str | None = typer.Option(
        None, "--token", envvar="NEIGHBORWATCH_TOKEN", help="Bearer token (generated if absent)."
    ),
    sink: list[str] = typer.Option(
        [], "--sink", help="jsonl:PATH | scores:PATH | cef+udp://H:P | cef+tcp://H:P | webhook:URL (repeatable)."
    ),
    state: Path = typer.Option(
        Path("neighborwatch-live"), "--state", help="Folder for snapshots, alerts database and thresholds."
    ),
    partitions: int = typer.Option(1, "--partitions", help="Number of user partitions (Redis streams)."),
    only: str | None = typer.Option(
        None, "--only", help="Comma-separated partitions this worker consumes (default: all)."
    ),
    consumer: str = typer.Option(
        "worker-0", "--consumer", help="Stable consumer name of this worker in the Redis group."
    ),
    prefix: str = typer.Option(
        "neighborwatch:events", "--prefix", help="Redis stream name prefix (streams PREFIX:0..N-1)."
    ),
    budget: float = typer.Option(5.0, "--budget", help="Incidents per 100 users per day to calibrate thresholds to."),
    half_life: float = typer.Option(24.0, "--half-life", help="Risk half-life in hours."),
    thresholds: Path | None = typer.Option(None, "--thresholds", help="thresholds.json to use instead of calibrating."),
    window: float = typer.Option(5.0, "--window", help="Out-of-order window in seconds of event time."),
    snapshot_every: float = typer.Option(5.0, "--snapshot-every", help="Seconds between state snapshots."),
    threads: int = typer.Option(1, "--threads", help="Torch threads of the scoring worker."),
    event_years: str = typer.Option(
        "1970:2099", "--event-years", help="FIRST:LAST year of event times accepted at intake."
    ),
    max_deliveries: int = typer.Option(
        5, "--max-deliveries", help="Redis deliveries of one entry before it is dead-lettered."
    ),
    max_sessions: int = typer.Option(
        100_000, "--max-sessions", help="Open sessions kept; beyond, the least recently active is closed (0 = no cap)."
    ),
    idle_session: float = typer.Option(
        0.0, "--idle-session", help="Close sessions idle this many seconds of event time (0 = never)."
    ),
    engine: str = typer.Option("local", "--engine", help="local | ray (--workers supervised Ray actors over --redis)."),
    workers: int = typer.Option(
        1, "--workers", help="With --engine ray: worker actors (partitions p mod N; HTTP on PORT+i)."
    ),
    address: str | None = typer.Option(None, "--address", help="Ray cluster address (default: a local Ray)."),
    max_restarts: int = typer.Option(
        10, "--max-restarts", help="With --engine ray: restarts of a dead worker (-1 = always)."
    ),
) -> None:
    """Run the live detector: HTTP API + dashboard, optional Redis source, alert sinks."""
    from neighborwatch.service.server import ServeOptions
    from neighborwatch.service.server import serve as run_serve

    _model_dir(model)
    if work is not None:
        _work_dir(work)
    if budget <= 0 or half_life <= 0:
        raise UserError("--budget and --half-life must be positive", "e.g. --budget 5 --half-life 24")
    run = run_serve
    if engine != "local":
        from neighborwatch.scale.cluster import check_engine
        from neighborwatch.scale.live import serve_on_ray

        check_engine(engine)
        if only:
            raise typer.BadParameter("--engine ray assigns the partitions itself", param_hint="--only")

        def run(opts: ServeOptions) -> None:
            serve_on_ray(opts, workers, address, max_restarts)

    run(
        ServeOptions(
            model=model,
            work=work,
            redis=redis,
            host=host,
            port=port,
            token=token,
            sinks=list(sink),
            state=state,
            partitions=partitions,
            only=[int(x) for x in only.split(",")] if only else None,
            consumer=consumer,
            prefix=prefix,
            budget_per_day=budget,
            half_life_h=half_life,
            thresholds=thresholds,
            window_s=window,
            snapshot_every_s=snapshot_every,
            threads=threads,
            years=_year_range(event_years),
            max_deliveries=max_deliveries,
            max_sessions=max_sessions,
            idle_session_s=idle_session,
        )
    )


def _year_range(text: str) -> tuple[int, int]:
    try:
        first, last = (int(x) for x in text.split(":"))
        from neighborwatch.streaming.events import TimeRange

        TimeRange(first, last)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: give FIRST:LAST years, e.g. 1970:2099", param_hint="--event-years"
        ) from None
    return first, last


@app.command()
def replay(
    work: Path = typer.Argument(..., help="Prepared WORK folder."),
    to: str = typer.Option(..., "--to", help="http://HOST:PORT of a running service, or redis://HOST:PORT/DB."),
    speed: float = typer.Option(0.0, "--speed", help="Log seconds per wall second (0 = as fast as accepted)."),
    split: str = typer.Option("test", "--split", help="test | validation | train | all."),
    token: str | None = typer.Option(
        None, "--token", envvar="NEIGHBORWATCH_TOKEN", help="Bearer token of the service."
    ),
    partitions: int = typer.Option(1, "--partitions", help="With redis: number of user partitions."),
    prefix: str = typer.Option("neighborwatch:events", "--prefix", help="With redis: stream name prefix."),
    limit: int | None = typer.Option(None, "--limit", help="Send at most this many events."),
) -> None:
    """Replay a prepared period, in time order, into a running service (HTTP or Redis)."""
    from neighborwatch.progress import console
    from neighborwatch.replay import check_reachable
    from neighborwatch.replay import replay as run_replay

    check_reachable(to, token)
    _work_dir(work)
    result = run_replay(
        work, to, speed=speed, split=split, token=token, partitions=partitions, limit=limit, prefix=prefix
    )
    console.print(result)


def main() -> None:  # pragma: no cover
    app()
