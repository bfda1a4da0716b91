"""Synthetic CERT-format organisation with insiders (`neighborwatch synth`).

`synthesize` writes a folder laid out like a CERT release (r4.2, r5.2 or r6.2): the five logs with
the release's headers and value formats, LDAP/ monthly snapshots, psychometric.csv and answers/.
It works one day at a time for the whole organisation and appends each chunk to disk in global
time order, so memory stays flat however long the period is. The same seed gives the same bytes.

Modules: organisation (people, hierarchy, PCs, habits, leavers), behaviour (normal daily activity),
insiders (scenarios 1-5), replay (real CERT answer rows as insiders, `insiders="real"`), writers
(row formats, answers/, LDAP/, psychometric).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl

from neighborwatch.data.synth.behaviour import DAY, Pools, day_sessions, session_events
from neighborwatch.data.synth.insiders import SCENARIOS, Emitter, cut_day, period_of, plan_insiders
from neighborwatch.data.synth.organisation import build_org
from neighborwatch.data.synth.replay import plan_real_insiders
from neighborwatch.data.synth.writers import RELEASES, SOURCES, ReleaseWriter, header
from neighborwatch.progress import progress

__all__ = ["synthesize", "print_summary", "RELEASES", "SCENARIOS", "INSIDER_KINDS", "header"]

INSIDER_KINDS = ("synthetic", "real")

PERIODS = ("train", "validation", "test")  # as insiders.period_of: 30 days before the test cut = validation
FLUSH_DAYS = 7  # days generated between two appends to the logs


def _parse_day(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(text))
    except ValueError:
        raise ValueError(f"{what} must be a date like 2010-01-02, got {text!r}") from None


def synthesize(
    release: str,
    users: int,
    start: str,
    end: str,
    seed: int,
    out: Path,
    insiders: str = "synthetic",
    answers: Path | None = None,
) -> dict:
    """Write a synthetic CERT release to `out`; return the manifest (also in synth_manifest.json).

    insiders="real" replays the real answer rows found under `answers` (a release's answers/
    folder, read at run time) instead of generating scenario rows (see synth.replay).
    """
    if release not in RELEASES:
        raise ValueError(f"unknown release {release!r}; choose one of {', '.join(RELEASES)}")
    if insiders not in INSIDER_KINDS:
        raise ValueError(f"--insiders must be one of {', '.join(INSIDER_KINDS)}, got {insiders!r}")
    if (insiders == "real") != (answers is not None):
        raise ValueError(
            "--insiders real needs --answers DIR (a CERT release's answers/ folder), "
            "and --answers is only for --insiders real"
        )
    first, stop = _parse_day(start, "--start"), _parse_day(end, "--end")
    if (stop - first).days < 14:
        raise ValueError(f"--end must be at least 14 days after --start ({start} .. {end})")
    days = [first + dt.timedelta(days=i) for i in range((stop - first).days)]
    out = Path(out)

    org = build_org(release, int(users), days, seed)
    kind = insiders
    if answers is not None:
        planned = plan_real_insiders(org, Path(answers), seed)
    else:
        planned = plan_insiders(org, seed)
    pools = Pools(org, seed)
    writer = ReleaseWriter(out, org, seed)
    t0 = calendar.timegm(first.timetuple())
    pending: dict[str, list[pl.DataFrame]] = {s: [] for s in SOURCES}
    try:
        with progress() as bar:
            task = bar.add_task(f"synth {release}: {users} users", total=len(days))
            for d in range(len(days)):
                day0 = t0 + d * DAY
                rng = np.random.default_rng([seed, 100, d])
                sess = day_sessions(org, d, day0, rng)
                frames = session_events(org, pools, sess, d, rng)
                emitter = Emitter(org, pools, sess, day0, np.random.default_rng([seed, 200, d]))
                for k, ins in enumerate(planned):
                    emitter.emit(ins, k, d)
                malicious = emitter.frames()
                for s in SOURCES:
                    pending[s].append(frames[s])
                    if s in malicious:
                        pending[s].append(malicious[s])
                if (d + 1) % FLUSH_DAYS == 0 or d == len(days) - 1:
                    boundary = day0 + DAY  # nothing generated later can be earlier than this
                    for s in SOURCES:
                        chunk = pl.concat(pending[s])
                        writer.write(s, chunk.filter(pl.col("t") < boundary).sort("t", maintain_order=True))
                        pending[s] = [chunk.filter(pl.col("t") >= boundary)]
                bar.advance(task)
    finally:
        writer.close()
    lost = sum(int((df["scen"] > 0).sum()) for frames_ in pending.values() for df in frames_)
    if lost:
        raise RuntimeError(f"{lost} malicious events fell after --end; this is a bug in insider planning")

    answered = writer.write_answers(planned)
    months = writer.write_ldap()
    writer.write_psychometric()
    cut = cut_day(release, days)
    per_scenario = {str(s): 0 for s in SCENARIOS[release]}
    per_period: dict[str, dict[str, int]] = {p: {} for p in PERIODS}
    events_per_period = dict.fromkeys(PERIODS, 0)
    for k, (a, ins) in enumerate(zip(answered, planned)):  # write_answers keeps the planning order
        per_scenario[str(a["scenario"])] += a["malicious_events"]
        a["period"] = period_of(ins.first_day, cut)
        a["events_per_period"] = dict.fromkeys(PERIODS, 0)
        for t, _, _ in writer.malicious[k]:
            a["events_per_period"][period_of((t - t0) // DAY, cut)] += 1
        for p in PERIODS:
            events_per_period[p] += a["events_per_period"][p]
        if ins.replay is not None:  # which real answer file, whose, moved by how many days
            a.update(ins.data)
        counts = per_period[a["period"]]
        counts[str(a["scenario"])] = counts.get(str(a["scenario"]), 0) + 1
    manifest = {
        "release": release,
        "seed": seed,
        "users": int(users),
        "start": first.isoformat(),
        "end": stop.isoformat(),
        "days": len(days),
        "test_cut": (first + dt.timedelta(days=cut)).isoformat(),
        "insider_kind": kind,
        "answers_source": str(answers) if answers is not None else None,
        "rows": dict(writer.rows),
        "total_events": int(sum(writer.rows.values())),
        "insiders": answered,
        "malicious_events_per_scenario": per_scenario,
        "insiders_per_period_and_scenario": per_period,  # by the insider's first day
        "malicious_events_per_period": events_per_period,
        "malicious_events": int(sum(per_scenario.values())),
        "leavers": int((org.leave_day < len(days)).sum()),
        "ldap_months": months,
        "pcs": int(len(org.pc) + len(org.shared_pcs)),
    }
    (out / "synth_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def print_summary(manifest: dict, out: Path) -> None:
    """Short table of what was written (for the CLI)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    rows = manifest["rows"]
    table = Table(title=f"synthetic {manifest['release']} in {out}  ({manifest['start']} .. {manifest['end']})")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for s, n in rows.items():
        table.add_row(f"{s}.csv", f"{n:,}")
    table.add_row("total", f"{manifest['total_events']:,}")
    console.print(table)
    per = ", ".join(f"s{s}: {n}" for s, n in manifest["malicious_events_per_scenario"].items())
    console.print(
        f"{manifest['users']} users ({manifest['leavers']} leave), {len(manifest['insiders'])} insiders, "
        f"{manifest['malicious_events']} malicious events ({per}); test period from {manifest['test_cut']}"
    )
