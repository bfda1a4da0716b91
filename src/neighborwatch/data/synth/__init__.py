"""Synthetic CERT-format organisation with insiders (`neighborwatch synth`).

`synthesize` writes a folder laid out like a CERT release (r4.2, r5.2 or r6.2): the five logs with
the release's headers and value formats, LDAP/ monthly snapshots, psychometric.csv and answers/.
It works one day at a time for the whole organisation and appends each chunk to disk in global
time order, so memory stays flat however long the period is. The same seed gives the same bytes.

Modules: organisation (people, hierarchy, PCs, habits, leavers), behaviour (normal daily activity),
insiders (scenarios 1-5), writers (row formats, answers/, LDAP/, psychometric).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl

from neighborwatch.data.synth.behaviour import DAY, Pools, day_sessions, session_events
from neighborwatch.data.synth.insiders import SCENARIOS, Emitter, plan_insiders, cut_day
from neighborwatch.data.synth.organisation import build_org
from neighborwatch.data.synth.writers import RELEASES, SOURCES, ReleaseWriter, header
from neighborwatch.progress import progress

__all__ = ["synthesize", "print_summary", "RELEASES", "SCENARIOS", "header"]

FLUSH_DAYS = 7  # days generated between two appends to the logs


def _parse_day(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(text))
    except ValueError:
        raise ValueError(f"{what} must be a date like 2010-01-02, got {text!r}") from None


def synthesize(release: str, users: int, start: str, end: str, seed: int, out: Path) -> dict:
    """Write a synthetic CERT release to `out`; return the manifest (also in synth_manifest.json)."""
    if release not in RELEASES:
        raise ValueError(f"unknown release {release!r}; choose one of {', '.join(RELEASES)}")
    first, stop = _parse_day(start, "--start"), _parse_day(end, "--end")
    if (stop - first).days < 14:
        raise ValueError(f"--end must be at least 14 days after --start ({start} .. {end})")
    days = [first + dt.timedelta(days=i) for i in range((stop - first).days)]
    out = Path(out)

    org = build_org(release, int(users), days, seed)
    insiders = plan_insiders(org, seed)
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
                for k, ins in enumerate(insiders):
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

    answers = writer.write_answers(insiders)
    months = writer.write_ldap()
    writer.write_psychometric()
    per_scenario = {str(s): 0 for s in SCENARIOS[release]}
    for a in answers:
        per_scenario[str(a["scenario"])] += a["malicious_events"]
    manifest = {
        "release": release,
        "seed": seed,
        "users": int(users),
        "start": first.isoformat(),
        "end": stop.isoformat(),
        "days": len(days),
        "test_cut": (first + dt.timedelta(days=cut_day(release, days))).isoformat(),
        "rows": dict(writer.rows),
        "total_events": int(sum(writer.rows.values())),
        "insiders": answers,
        "malicious_events_per_scenario": per_scenario,
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
