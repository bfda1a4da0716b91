"""The dataset-statistics table a paper shows (`neighborwatch stats WORK`, WORK/stats.json).

An evaluation-side report: it joins the labels (via `data.labels.row_labels`) to the built
sequences to count malicious activities, sessions, user-days and samples per split and per
scenario. Nothing here feeds a detector.

Counts: "events" are rows of events.parquet; "activities" are positions of the session set
(after the repeat collapse, if it was on); "samples" are next-activity samples (LAN.md §2.8):
training = every position of malicious sessions + the seeded 50 % of normal positions (before
and after the 10 % oversampling), validation/test = every position i ≥ 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from neighborwatch.data.labels import row_labels
from neighborwatch.sequences.base import SequenceSet, activity_labels, activity_scenarios, sequence_labels
from neighborwatch.sequences.build import load_config, load_sequences
from neighborwatch.sequences.samples import DEFAULT_SEED, Samples, evaluation_samples, oversample, training_samples
from neighborwatch.sequences.splits import SPLITS
from neighborwatch.workdir import WorkDir, write_json

COLUMNS = ("all",) + SPLITS


def _work(work: WorkDir | str | Path) -> WorkDir:
    return work if isinstance(work, WorkDir) else WorkDir(work)


def _mask(seqs: SequenceSet, split: str) -> np.ndarray:
    if split == "all":
        return np.ones(len(seqs), dtype=bool)
    return (seqs.meta["split"] == split).to_numpy()


def _sequence_stats(seqs: SequenceSet, act_mal: np.ndarray, act_scen: np.ndarray, split: str) -> dict[str, Any]:
    sel = _mask(seqs, split)
    part = seqs.subset(np.flatnonzero(sel))
    mal = act_mal[np.repeat(sel, seqs.lengths)]
    scen = act_scen[np.repeat(sel, seqs.lengths)]
    seq_mal = sequence_labels(part, mal)
    seq_scen = np.zeros(len(part), dtype=np.int64)  # a sequence's scenario: its malicious activities'
    if part.n_activities and len(part):
        seq_scen = np.maximum.reduceat(scen.astype(np.int64), part.offsets[:-1])
        seq_scen[part.lengths == 0] = 0
    users = part.meta["user"]
    return {
        "sequences": len(part),
        "malicious_sequences": int(seq_mal.sum()),
        "activities": part.n_activities,
        "malicious_activities": int(mal.sum()),
        "raw_events": int(part.meta["raw_length"].sum() or 0) if "raw_length" in part.meta.columns else None,
        "users": users.n_unique(),
        "users_with_malicious": users.filter(pl.Series(seq_mal)).n_unique(),
        "_part": part,
        "_mal": mal,
        "_scen": scen,
        "_seq_scen": seq_scen,
    }


def _samples(part: SequenceSet, mal: np.ndarray, split: str) -> tuple[dict[str, int], Samples]:
    if split == "train":
        s = training_samples(part, mal, seed=DEFAULT_SEED)
        o = oversample(s, seed=DEFAULT_SEED)
        return {
            "samples": len(s),
            "malicious_samples": s.n_malicious,
            "samples_oversampled": len(o),
            "malicious_samples_oversampled": o.n_malicious,
        }, s
    s = evaluation_samples(part, mal)
    return {"samples": len(s), "malicious_samples": s.n_malicious}, s


def _insiders(work: WorkDir) -> pl.DataFrame:
    """Distinct (scenario, insider) of malicious labels whose event is in the logs."""
    if not work.labels.exists():
        return pl.DataFrame(schema={"scenario": pl.Int8, "insider": pl.Utf8})
    ids = pl.scan_parquet(work.events).select("event_id")
    return (
        pl.scan_parquet(work.labels)
        .filter(pl.col("malicious"))
        .join(ids, on="event_id", how="semi")
        .select("scenario", "insider")
        .unique()
        .collect()
    )


def dataset_stats(work: WorkDir | str | Path, write: bool = True) -> dict[str, Any]:
    """Users, insiders, sessions, user-days, activities, malicious counts and samples per split
    and per scenario; also written to WORK/stats.json."""
    work = _work(work).require()
    config = load_config(work)
    malicious, scenario = row_labels(work)
    sessions, days = load_sequences(work, "session"), load_sequences(work, "day")
    insiders = _insiders(work)
    out: dict[str, Any] = {
        "release": config.get("release"),
        "tokenizer": config["tokenizer"]["type"],
        "collapse": config["collapse"],
        "span": config["span"],
        "split_dates": config["split"],
        "session_rule": config.get("session_rule") or {"name": "cert (Logon/Logoff)"},
        "session_lengths": config.get("session_lengths"),
        "validation": {k: v for k, v in (config.get("validation") or {"rule": "period"}).items() if k != "users"},
        "events": int(len(malicious)),
        "malicious_events": int(malicious.sum()),
        "labelled": work.labels.exists(),
        "insiders": insiders["insider"].n_unique(),
        "splits": {},
        "scenarios": {},
    }
    s_mal, s_scen = activity_labels(sessions, malicious), activity_scenarios(sessions, scenario)
    d_mal, d_scen = activity_labels(days, malicious), activity_scenarios(days, scenario)
    per_split: dict[str, dict] = {}
    for split in COLUMNS:
        ss = _sequence_stats(sessions, s_mal, s_scen, split)
        ds = _sequence_stats(days, d_mal, d_scen, split)
        row = {
            "users": ss["users"],
            "users_with_malicious": ss["users_with_malicious"],
            "sessions": ss["sequences"],
            "malicious_sessions": ss["malicious_sequences"],
            "user_days": ds["sequences"],
            "malicious_user_days": ds["malicious_sequences"],
            "events": ss["raw_events"],
            "activities": ss["activities"],
            "malicious_activities": ss["malicious_activities"],
        }
        if split != "all":
            counts, samples = _samples(ss["_part"], ss["_mal"], split)
            assert samples.label is not None  # built from the malicious flags, so labelled
            row.update(counts)
            ss["_sample_scen"] = np.where(samples.label, ss["_scen"][samples.flat_index(ss["_part"])], 0)
        out["splits"][split] = row
        per_split[split] = {"sess": ss, "day": ds}
    scenarios = sorted(
        {int(x) for x in np.unique(scenario[malicious])} | set(insiders["scenario"].drop_nulls().to_list())
    )
    for sc in scenarios:
        entry: dict[str, Any] = {
            "insiders": insiders.filter(pl.col("scenario") == sc)["insider"].n_unique(),
            "malicious_events": int((malicious & (scenario == sc)).sum()),
        }
        for split in COLUMNS:
            ss, ds = per_split[split]["sess"], per_split[split]["day"]
            seq_users = ss["_part"].meta["user"].to_numpy()
            entry[split] = {
                "insiders": len(set(seq_users[ss["_seq_scen"] == sc])),  # accounts with such a session
                "malicious_activities": int((ss["_mal"] & (ss["_scen"] == sc)).sum()),
                "malicious_sessions": int((ss["_seq_scen"] == sc).sum()),
                "malicious_user_days": int((ds["_seq_scen"] == sc).sum()),
            }
            if "_sample_scen" in ss:
                entry[split]["malicious_samples"] = int((ss["_sample_scen"] == sc).sum())
        out["scenarios"][str(sc)] = entry
    if write:
        write_json(work.root / "stats.json", out)
    return out


_ROWS = (
    ("users", "users"),
    ("users_with_malicious", "users with malicious activity"),
    ("sessions", "sessions"),
    ("malicious_sessions", "malicious sessions"),
    ("user_days", "user-days"),
    ("malicious_user_days", "malicious user-days"),
    ("events", "events"),
    ("activities", "activities (in sessions)"),
    ("malicious_activities", "malicious activities"),
    ("samples", "samples"),
    ("malicious_samples", "malicious samples"),
    ("samples_oversampled", "samples after oversampling"),
    ("malicious_samples_oversampled", "malicious samples after oversampling"),
)


def _fmt(v: Any) -> str:
    return "—" if v is None else f"{v:,}" if isinstance(v, int) else str(v)


def tables(stats: dict[str, Any]) -> list[Table]:
    d = stats["split_dates"]
    held = (stats.get("validation") or {}).get("rule") == "users"
    val = (
        f"validation = {stats['validation']['share']:.0%} of the users held out before the test cut, "
        f"calibration = the others from {d['val_start'][:10]}"
        if held
        else f"validation from {d['val_start'][:10]}"
    )
    title = (
        f"{stats.get('release') or 'dataset'}: {stats['events']:,} events, {stats['insiders']} insiders, "
        f"{val}, test from {d['test_start'][:10]} ({d['rule']})"
    )
    main = Table(title=title)
    main.add_column("")
    for c in COLUMNS:
        main.add_column(c, justify="right")
    for key, name in _ROWS:
        main.add_row(name, *[_fmt(stats["splits"][c].get(key)) for c in COLUMNS])
    out = [main, session_table(stats)]
    if stats["scenarios"]:
        sc = Table(title="per scenario")
        sc.add_column("scenario")
        sc.add_column("")
        for c in COLUMNS:
            sc.add_column(c, justify="right")
        for name, e in stats["scenarios"].items():
            sc.add_row(name, "insiders", _fmt(e["insiders"]), "", "", "")
            sc.add_row("", "malicious events", _fmt(e["malicious_events"]), "", "", "")
            for key, label in (
                ("insiders", "insiders (accounts) per split"),
                ("malicious_activities", "malicious activities"),
                ("malicious_sessions", "malicious sessions"),
                ("malicious_user_days", "malicious user-days"),
                ("malicious_samples", "malicious samples"),
            ):
                sc.add_row("", label, *[_fmt(e[c].get(key)) for c in COLUMNS], end_section=key == "malicious_samples")
        out.append(sc)
    return out


def session_table(stats: dict[str, Any]) -> Table:
    """The session rule used and the distribution of session lengths (events, minutes)."""
    t = Table(title=f"sessions: rule {stats['session_rule']['name']}")
    lengths = stats.get("session_lengths") or {}
    names = ("min", "p25", "median", "p75", "p95", "max")
    t.add_column("")
    for n in names:
        t.add_column(n, justify="right")
    for key, label in (("events", "events per session"), ("minutes", "minutes per session")):
        if key in lengths:
            t.add_row(label, *[f"{lengths[key][n]:,.1f}".removesuffix(".0") for n in names])
    if "sessions" in lengths:
        t.caption = f"{lengths['sessions']:,} sessions, {lengths.get('single_event', 0):,} of one event"
    return t


def print_stats(work: WorkDir | str | Path, console: Console | None = None) -> dict[str, Any]:
    """Compute, print (rich tables) and store (WORK/stats.json) the dataset statistics."""
    stats = dataset_stats(work)
    console = console or Console()
    for t in tables(stats):
        console.print(t)
    if not stats["labelled"]:
        console.print("no labels.parquet: malicious counts are 0 (unlabelled logs)")
    return stats
