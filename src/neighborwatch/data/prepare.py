"""`ingest`: a CERT release folder (or your own logs) → WORK/events, labels, users, quarantine, summary.

Order of work: stream every log into time-bucketed parts (bounded memory), write the one sorted
events.parquet whose row index is the "event row" everywhere downstream, then read the small
side tables (organisation, answers) and join the answers to the written events by id only.
The first two steps go through a `Reader`: `LocalReader` here, or the Ray engine's
(`scale.prepare.RayReader`: pieces of every file read and week groups sorted as Ray tasks), which
writes the same WORK.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import polars as pl
from rich.table import Table

from neighborwatch import progress as pg
from neighborwatch.data import answers as ans
from neighborwatch.data.cert import ReleaseInfo, answers_dataset_hint, detect_release
from neighborwatch.data.eventstore import EventStore
from neighborwatch.data.labels import incident_labels
from neighborwatch.data.organisation import load_organisation
from neighborwatch.data.ownlogs import MappingError, list_files, mapping_json, parse_mapping
from neighborwatch.data.pieces import LogFile, PieceStats, read_piece
from neighborwatch.data.quarantine import Quarantine
from neighborwatch.data.schema import LABEL_SCHEMA, SOURCES
from neighborwatch.workdir import WorkDir, write_json

MISSING_LABELS_LISTED = 20  # in summary.json; the full list goes to labels_missing.csv


class Reader(Protocol):
    """How `ingest` reads its log files into the store and sorts them."""

    def read(self, files: list[LogFile], store: EventStore, q: Quarantine) -> Iterator[PieceStats]:
        """Read `files` into `store` and `q`; one PieceStats per file, in order (lazily: the
        caller handles a file before the next one is merged)."""
        ...

    def sort(self, store: EventStore, out: Path, on_group: Any) -> None:
        """`store.finish(out, on_group)`, or what gives the same file."""
        ...


class LocalReader:
    """Every file read whole, one after another, in this process."""

    def read(self, files: list[LogFile], store: EventStore, q: Quarantine) -> Iterator[PieceStats]:
        with pg.progress() as bar:
            task = bar.add_task("reading logs (bytes)", total=sum(f.path.stat().st_size for f in files))
            for file in files:
                done = 0

                def advance(position: int) -> None:
                    nonlocal done
                    bar.advance(task, position - done)
                    done = position

                stats = read_piece(file, store, q, on_bytes=advance)
                advance(file.path.stat().st_size)
                yield stats

    def sort(self, store: EventStore, out: Path, on_group: Any) -> None:
        store.finish(out, on_group=on_group)


def _warn(summary: dict, message: str) -> None:
    summary.setdefault("warnings", []).append(message)
    pg.console.print(f"[yellow]warning:[/] {message}")


def ingest(
    src: Path,
    out: Path,
    fmt: str | None = None,
    mapping: str | None = None,
    keep_content: bool = False,
    labels: Path | None = None,
    reader: Reader | None = None,
) -> dict[str, Any]:
    """Ingest `src` into the WORK folder `out`; returns (and writes) the summary. `labels`: a
    known-incidents CSV (`data.labels.incident_labels`) that becomes labels.parquet; `reader`:
    how the logs are read and sorted (default: `LocalReader`)."""
    reader = reader or LocalReader()
    src, out = Path(src), Path(out)
    work = WorkDir(out)
    if mapping and not fmt:
        raise ValueError("--map is for your own logs: give --format csv|jsonl|parquet as well")
    if fmt is None and src.is_file():
        raise ValueError(f"{src} is a file: for your own logs give --format csv|jsonl|parquet and --map")
    out.mkdir(parents=True, exist_ok=True)
    for stale in (work.events, work.labels, work.users, work.summary, missing_labels_path(work)):
        stale.unlink(missing_ok=True)
    summary: dict[str, Any] = {"src": str(src)}
    with Quarantine(work.quarantine) as q:
        if fmt:
            _ingest_own(src, work, fmt, mapping, keep_content, q, summary, reader)
        else:
            _ingest_cert(src, work, keep_content, q, summary, reader)
        summary["quarantined"] = q.summary()
    if labels is not None:
        _incidents(Path(labels), work, summary)
    summary.update(_event_stats(work))
    write_json(work.summary, summary)
    print_summary(summary)
    return summary


def missing_labels_path(work: WorkDir) -> Path:
    return work.root / "labels_missing.csv"


# --- CERT ---------------------------------------------------------------------------------


def _ingest_cert(src: Path, work: WorkDir, keep_content: bool, q: Quarantine, summary: dict, reader: Reader) -> None:
    info = detect_release(src)
    summary["format"] = "cert"
    summary["release"] = info.release
    summary["release_evidence"] = info.evidence
    if info.release == "unknown":
        _warn(summary, f"{src}: headers fit {'/'.join(info.candidates)}; release left as unknown")
    for source in info.missing:
        _warn(summary, f"{info.path(source)} is missing: no {source} events")
    for source in info.empty:
        q.add(f"{source}.csv", 0, "empty file (no header)", "")
        _warn(summary, f"{info.path(source)} is empty: no {source} events")
    summary["missing_sources"] = info.missing
    summary["empty_sources"] = info.empty
    store = EventStore(work.root / "_parts", extra={"content": pl.Utf8} if keep_content else None)
    files = [LogFile(info.path(s), f"{s}.csv", keep_content=keep_content, source=s, info=info) for s in info.headers]
    sources: dict[str, dict] = {}
    for file, stats in zip(files, reader.read(files, store, q), strict=True):
        assert file.source is not None
        if stats.rows == 0:
            _warn(summary, f"{file.path} has no valid data rows")
        sources[file.source] = {
            "file": file.label,
            "rows": stats.rows,
            "quarantined": q.per_file[file.label],  # the file's rows: nothing else quarantines under its name
            "rescued_extra_fields": stats.rescued,
        }
    summary["sources"] = sources
    _finish_events(store, work, reader)
    users = load_organisation(src, q)
    if users is not None:
        users.write_parquet(work.users)
        summary["organisation"] = {
            "users": users.height,
            "leavers": int(users["left"].is_not_null().sum()),
            "ldap": (src / "LDAP").is_dir(),
            "psychometric": (src / "psychometric.csv").exists(),
        }
    answers_dir = src / "answers"
    if answers_dir.is_dir():
        _labels(info, answers_dir, work, q, summary)
    else:
        summary["dataset"] = None
        summary["labels"] = None


def _finish_events(store: EventStore, work: WorkDir, reader: Reader) -> None:
    with pg.progress() as bar:
        task = bar.add_task("sorting events by time", total=store.n_groups())
        reader.sort(store, work.events, on_group=lambda: bar.advance(task))


def _ids_in_events(work: WorkDir, ids: list[str]) -> set[str]:
    found = (
        pl.scan_parquet(work.events)
        .select("event_id")
        .filter(pl.col("event_id").is_in(pl.Series(ids, dtype=pl.Utf8).implode()))
        .collect(engine="streaming")
    )
    return set(found["event_id"].to_list())


def _labels(info: ReleaseInfo, answers_dir: Path, work: WorkDir, q: Quarantine, summary: dict) -> None:
    family = info.release if info.release != "unknown" else None
    major = family[1:] if family else None
    datasets = sorted(
        {f.dataset for f in ans.find_answer_files(answers_dir) if major is None or f.dataset.split(".")[0] == major}
    )
    # probing pass over every candidate set: count-only quarantine, the chosen set is read again
    rows, ainfo = ans.load_answers(answers_dir, family, q if len(datasets) <= 1 else Quarantine(None))
    present = _ids_in_events(work, rows["event_id"].unique().to_list()) if rows.height else set()
    if len(datasets) > 1:
        # several answer sets of this release family (e.g. 4.1 and 4.2): folder name, else overlap
        hint = answers_dataset_hint(info.root)
        if hint in datasets:
            chosen = hint
        else:
            overlap = rows.filter(pl.col("event_id").is_in(list(present))).group_by("dataset").len()
            counts = dict(zip(overlap["dataset"].to_list(), overlap["len"].to_list()))
            chosen = max(datasets, key=lambda d: (counts.get(d, 0), d))
        _warn(summary, f"answers hold datasets {datasets}; using {chosen}")
        rows, ainfo = ans.load_answers(answers_dir, family, q, datasets=[chosen])
    summary["dataset"] = ainfo["datasets"][0] if len(ainfo["datasets"]) == 1 else None
    labels, duplicates = ans.labels_from_answers(rows)
    present_s = pl.Series(sorted(present), dtype=pl.Utf8).implode()
    in_logs = pl.col("event_id").is_in(present_s)
    labels.filter(in_logs).select(list(LABEL_SCHEMA)).cast(pl.Schema(LABEL_SCHEMA)).write_parquet(work.labels)
    missing = rows.filter(~in_logs)
    missing.select("event_id", "type", "time", "user", "insider", "scenario", "file", "line").write_csv(
        missing_labels_path(work)
    )
    kept = labels.filter(in_logs)
    for ins in ainfo["insiders"]:
        ins["rows_in_logs"] = int(rows.filter(pl.col("file").str.ends_with("/" + ins["file"]) & in_logs).height)
    summary["insiders"] = ainfo["insiders"]
    summary["labels"] = {
        "answer_files": ainfo["files"],
        "answer_rows": ainfo["rows"],
        "duplicate_answer_rows": duplicates,
        "rows_of_other_users": ainfo["rows_of_other_users"],
        "repaired_insider_dates": ainfo["repaired_insider_dates"],
        "files_not_in_insiders_csv": ainfo["files_not_in_insiders_csv"],
        "malicious_events": kept.height,
        "malicious_per_scenario": {
            str(k): int(n) for k, n in kept.group_by("scenario").len().sort("scenario").iter_rows()
        },
        "not_in_logs": missing.height,
        "not_in_logs_first": missing["event_id"].head(MISSING_LABELS_LISTED).to_list(),
        "not_in_logs_file": missing_labels_path(work).name,
    }
    if missing.height:
        _warn(
            summary,
            f"{missing.height} of {rows.height} answer rows name event ids absent from the logs "
            f"(listed in {missing_labels_path(work)})",
        )


# --- own logs -----------------------------------------------------------------------------


def _ingest_own(
    src: Path,
    work: WorkDir,
    fmt: str,
    mapping: str | None,
    keep_content: bool,
    q: Quarantine,
    summary: dict,
    reader: Reader,
) -> None:
    cols = parse_mapping(mapping)
    paths = list_files(src, fmt)
    summary.update(format=fmt, release="own", dataset=None, mapping=mapping_json(cols), labels=None)
    store = EventStore(work.root / "_parts", extra={"content": pl.Utf8} if keep_content and "content" in cols else None)
    files = [
        LogFile(path, str(path.relative_to(src)) if src.is_dir() else path.name, keep_content, fmt=fmt, mapping=cols)
        for path in paths
    ]
    results = reader.read([f for f in files if f.path.stat().st_size], store, q)
    per_file: dict[str, dict] = {}
    for file in files:
        label = file.label
        stats = {"rows": 0, "quarantined": 0}
        per_file[label] = stats
        if file.path.stat().st_size == 0:
            q.add(label, 0, "empty file", "")
            stats["quarantined"] = 1
            _warn(summary, f"{file.path} is empty")
            continue
        before = q.per_file[label]
        read = next(results)
        stats["rows"] = read.rows
        kind, message = read.error or ("", "")
        if kind == "empty":
            q.add(label, 0, "empty file (no header)", "")
            _warn(summary, f"{file.path} is empty (no header)")
        elif kind == "mapping":
            raise MappingError(message)
        elif kind == "unreadable":
            q.add(label, 0, f"unreadable file ({message})", "")
            _warn(summary, f"{file.path} could not be read: {message}")
        stats["quarantined"] = q.per_file[label] - before
    for _ in results:  # runs the reader to its end (closes its progress display)
        raise RuntimeError("the reader gave more results than files")
    summary["files"] = per_file
    _finish_events(store, work, reader)


def _incidents(path: Path, work: WorkDir, summary: dict) -> None:
    """labels.parquet from the team's known incidents (replaces answer-key labels, if any)."""
    if work.labels.exists():
        _warn(summary, f"--labels {path} replaces the labels of the answer keys")
    table, report = incident_labels(path, work.events)
    table.write_parquet(work.labels)
    summary["labels"] = report
    summary["insiders"] = sorted(table["insider"].drop_nulls().unique().to_list())
    if report.get("not_in_logs"):
        _warn(
            summary,
            f"{report['not_in_logs']} incident event id(s) are not in the logs, e.g. {report['not_in_logs_first'][:3]}",
        )
    for w in report.get("windows_without_events_first", []):
        _warn(summary, f"incident window on line {w['line']} ({w['user']}, {w['start']} … {w['end']}) matches no event")
    hidden = report.get("windows_without_events", 0) - len(report.get("windows_without_events_first", []))
    if hidden > 0:
        _warn(summary, f"{hidden} more incident windows match no event")


# --- summary ------------------------------------------------------------------------------


def _event_stats(work: WorkDir) -> dict[str, Any]:
    lf = pl.scan_parquet(work.events)
    s = (
        lf.select(
            events=pl.len(),
            users=pl.col("user").n_unique(),
            pcs=pl.col("host").n_unique(),
            start=pl.col("time").min(),
            end=pl.col("time").max(),
        )
        .collect(engine="streaming")
        .row(0, named=True)
    )
    per_source = lf.group_by("source").len().sort("source").collect(engine="streaming")
    return {
        "events": s["events"],
        "events_per_source": dict(zip(per_source["source"].to_list(), per_source["len"].to_list())),
        "users": s["users"],
        "pcs": s["pcs"],
        "time_span": [str(s["start"]) if s["start"] else None, str(s["end"]) if s["end"] else None],
    }


def print_summary(summary: dict[str, Any]) -> None:
    """The summary as one rich table (what `prepare` prints)."""
    t = Table(title=f"neighborwatch prepare: {summary.get('src')}", show_header=True)
    t.add_column("item")
    t.add_column("value", justify="right")
    release = summary.get("release")
    if summary.get("dataset"):
        release = f"{release} (answers {summary['dataset']})"
    t.add_row("release / format", f"{release} / {summary.get('format')}")
    per_source = summary.get("events_per_source", {})
    sources = summary.get("sources", {})
    for source in [*SOURCES, *sorted(set(per_source) - set(SOURCES))]:
        if source in per_source or source in sources:
            quarantined = sources.get(source, {}).get("quarantined", 0)
            extra = f"  ({quarantined:,} quarantined)" if quarantined else ""
            t.add_row(f"events: {source}", f"{per_source.get(source, 0):,}{extra}")
    t.add_row("events: total", f"{summary.get('events', 0):,}")
    t.add_row("users / PCs", f"{summary.get('users', 0):,} / {summary.get('pcs', 0):,}")
    span = summary.get("time_span") or [None, None]
    t.add_row("time span", f"{span[0]} … {span[1]}")
    org = summary.get("organisation")
    if org:
        parts = " + ".join(k for k in ("ldap", "psychometric") if org[k])
        leavers = f", {org['leavers']:,} leavers" if org["ldap"] else ""
        t.add_row(f"organisation ({parts})", f"{org['users']:,} users{leavers}")
    labels = summary.get("labels")
    if labels and labels.get("kind"):  # own incidents
        t.add_row(f"incident labels ({labels['kind']})", f"{labels['malicious_events']:,} events")
        missed = labels.get("not_in_logs", labels.get("windows_without_events", 0))
        t.add_row("incidents matching no event", f"{missed:,}")
    elif labels:
        t.add_row("insiders", f"{len(summary.get('insiders', [])):,}")
        for scen, n in labels["malicious_per_scenario"].items():
            t.add_row(f"malicious events: scenario {scen}", f"{n:,}")
        t.add_row("answer rows not in the logs", f"{labels['not_in_logs']:,} of {labels['answer_rows']:,}")
    qsum = summary.get("quarantined", {})
    t.add_row("quarantined rows", f"{qsum.get('rows', 0):,}")
    for file, n in qsum.get("per_file", {}).items():
        t.add_row(f"  quarantined: {file}", f"{n:,}")
    pg.console.print(t)
