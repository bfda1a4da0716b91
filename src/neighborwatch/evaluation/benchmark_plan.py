"""Benchmark planning: which methods go in which table, which fits serve which levels, and the
parameters of each method (its own presets, optionally overridden per method).

No detector is named here: what sets a method apart is read from its class (`levels`,
`featured`, `presets`), so adding a detector needs no change in the benchmark.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from neighborwatch.evaluation.protocol import DAY, REALTIME, SESSION
from neighborwatch.models.base import ACTIVITY, SEQUENCE
from neighborwatch.models.registry import available

TABLES = ("realtime", "posthoc", "all")
TABLE_LEVELS: dict[str, tuple[str, ...]] = {"realtime": (REALTIME,), "posthoc": (SESSION, DAY)}


def preset(method: str, fast: bool, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The constructor keyword arguments of `method` for this run (without seed / vocabulary)."""
    kw = dict(available()[method].presets.get("fast" if fast else "standard", {}))
    kw.update((overrides or {}).get(method, {}))
    return kw


# -- which methods, which levels ---------------------------------------------------------------
def table_methods(table: str, methods: Sequence[str] | None = None) -> dict[str, list[str]]:
    """{table: [method names]} for `table` (realtime | posthoc | all); featured detectors first.

    Real-time: detectors that score activities. Post-hoc: the featured detector (LAN) plus the
    sequence-only detectors
    (real-time baselines also have a sequence score, but the paper's post-hoc table holds its own
    baselines, so they stay out unless asked for by name).
    """
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; choose from {', '.join(TABLES)}")
    registry = available()
    if methods:
        unknown = [m for m in methods if m not in registry]
        if unknown:
            raise ValueError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(registry)}")
    wanted = ("realtime", "posthoc") if table == "all" else (table,)
    out: dict[str, list[str]] = {}
    for t in wanted:
        if t == "realtime":
            names = [n for n, c in registry.items() if ACTIVITY in c.levels]
        else:
            names = [n for n, c in registry.items() if c.levels == frozenset({SEQUENCE}) or c.featured]
        if methods:  # an explicit list: its order, the methods that can be in this table
            can = {n for n, c in registry.items()
                   if (ACTIVITY in c.levels if t == "realtime" else SEQUENCE in c.levels)}
            names = [m for m in methods if m in can]
        names = sorted(names, key=lambda n: (not registry[n].featured, names.index(n)))
        out[t] = names
    if not any(out.values()):
        raise ValueError(f"none of the chosen methods fits the {table} table")
    return out


@dataclass
class Job:
    """One fit of one method for one seed, and the levels evaluated with that fit."""

    method: str
    fit_kind: str  # 'session' | 'day'
    levels: tuple[str, ...]


def plan_jobs(selection: Mapping[str, Sequence[str]]) -> list[Job]:
    """A featured detector (LAN): one fit on sessions for all its levels; baselines: one fit per
    sequence kind."""
    registry = available()
    levels_of: dict[str, list[str]] = {}
    for t, names in selection.items():
        for n in names:
            levels_of.setdefault(n, []).extend(TABLE_LEVELS[t])
    jobs: list[Job] = []
    for method, levels in levels_of.items():
        featured = registry[method].featured
        if featured or REALTIME in levels:
            session_levels = tuple(lv for lv in levels if lv in (REALTIME, SESSION))
            if featured:
                jobs.append(Job(method, "session", tuple(levels)))
                continue
            jobs.append(Job(method, "session", session_levels))
            rest = tuple(lv for lv in levels if lv == DAY)
            if rest:
                jobs.append(Job(method, "day", rest))
        else:
            for lv in levels:
                jobs.append(Job(method, "day" if lv == DAY else "session", (lv,)))
    return jobs
