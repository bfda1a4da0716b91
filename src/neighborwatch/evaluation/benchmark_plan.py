"""Benchmark planning: which methods go in which table, which fits serve which levels, and the
parameters of each method (its own presets, optionally overridden per method).

No baseline is named here: what sets a method apart is read from its class (`levels`,
`featured`, `presets`), so adding a detector needs no change in the benchmark. The ablation
table (issue 8 §4) is the one place that names options: its rows are the featured detector
(LAN) with option overrides, run under the same protocol as every other row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from neighborwatch.evaluation.protocol import DAY, REALTIME, SESSION
from neighborwatch.models.base import ACTIVITY, SEQUENCE
from neighborwatch.models.registry import available

TABLES = ("realtime", "posthoc", "ablation", "all")
TABLE_LEVELS: dict[str, tuple[str, ...]] = {
    "realtime": (REALTIME,),
    "posthoc": (SESSION, DAY),
    "ablation": (REALTIME, SESSION, DAY),
}

#: LAN variants of the ablation table (issue 8 §4): (what the row removes or changes, overrides of
#: the LAN options on top of the run's preset and --params). The first row is the full LAN.
ABLATIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("full LAN", {}),
    ("w/o the acting user's history (the paper)", {"user_history": False}),
    ("w/o graph (k = 1, no neighbours)", {"k": 1, "neighbours": "none"}),
    ("random neighbours", {"neighbours": "random"}),
    ("retrieved neighbours (the paper)", {"neighbours": "retrieved"}),
    ("w/o hybrid loss (normal-only next-activity loss)", {"loss": "normal_only"}),
    ("w/o graph and w/o hybrid loss", {"k": 1, "neighbours": "none", "loss": "normal_only"}),
    ("w/o retrieval at inference", {"inference_retrieval": False}),
    ("encoder LSTM", {"encoder": "lstm"}),
    ("encoder GRU", {"encoder": "gru"}),
    ("encoder Transformer", {"encoder": "transformer"}),
    *((f"k = {k}", {"k": k}) for k in (5, 10, 15, 20, 40)),
    # the live cost per event grows with the prefix under whole-prefix attention; a window bounds it
    ("attention over the last 16 activities", {"attention_window": 16}),
)


def preset(method: str, fast: bool, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The constructor keyword arguments of `method` for this run (without seed / vocabulary)."""
    kw = dict(available()[method].presets.get("fast" if fast else "standard", {}))
    kw.update((overrides or {}).get(method, {}))
    return kw


def featured_method() -> str:
    """The detector every row is compared with (paired bootstrap) and the ablation varies."""
    names = [n for n, c in available().items() if c.featured]
    if len(names) != 1:
        raise ValueError(f"expected exactly one featured detector, found {names}")
    return names[0]


def variant_name(method: str, changes: Mapping[str, Any]) -> str:
    """Row name of a variant, e.g. 'lan[k=5]'; the method's own name without changes."""
    return method + ("[" + ",".join(f"{k}={v}" for k, v in changes.items()) + "]" if changes else "")


@dataclass(frozen=True)
class Variant:
    """One row of the ablation table: the featured method with `changes` to its options."""

    name: str
    method: str
    what: str
    changes: Mapping[str, Any]


def ablation_variants(
    fast: bool, overrides: Mapping[str, Mapping[str, Any]] | None = None, names: Sequence[str] | None = None
) -> tuple[list[Variant], dict[str, str]]:
    """The ablation rows for this run (only those in `names` when given), and {dropped row: the
    row it equals}.

    A row whose effective options equal an earlier row's (e.g. `k = 15` when the preset's k is 15,
    `encoder LSTM` when LSTM is the default) is not fitted twice: it is listed as the same row.
    """
    method = featured_method()
    base = preset(method, fast, overrides)
    resolve = available()[method].effective_params  # the defaults a row restates count as equal
    rows: list[Variant] = []
    seen: dict[str, str] = {}  # effective options -> row name
    same: dict[str, str] = {}
    for what, changes in ABLATIONS:
        name = variant_name(method, changes)
        effective = repr(sorted(resolve({**base, **changes}).items()))
        if effective in seen:
            same[f"{name} ({what})"] = seen[effective]
            continue
        seen[effective] = name
        rows.append(Variant(name, method, what, dict(changes)))
    if names:
        known = [variant_name(method, c) for _, c in ABLATIONS]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown ablation row(s) {', '.join(unknown)}; known: {', '.join(known)}")
        rows = [v for v in rows if v.name in names]
        same = {row: to for row, to in same.items() if row.split(" (")[0] in names}
    return rows, same


# -- which methods, which levels ---------------------------------------------------------------
def table_methods(table: str, methods: Sequence[str] | None = None) -> dict[str, list[str]]:
    """{table: [method names]} for `table` (realtime | posthoc | ablation | all); featured first.

    Real-time: detectors that score activities. Post-hoc: the featured detector (LAN) plus the
    sequence-only detectors
    (real-time baselines also have a sequence score, but the paper's post-hoc table holds its own
    baselines, so they stay out unless asked for by name).
    """
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; choose from {', '.join(TABLES)}")
    registry = available()
    if table == "ablation":  # rows = variants of the featured detector (`ablation_variants`)
        return {"ablation": [featured_method()]}
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
            can = {
                n for n, c in registry.items() if (ACTIVITY in c.levels if t == "realtime" else SEQUENCE in c.levels)
            }
            names = [m for m in methods if m in can]
        names = sorted(names, key=lambda n: (not registry[n].featured, names.index(n)))
        out[t] = names
    if not any(out.values()):
        raise ValueError(f"none of the chosen methods fits the {table} table")
    return out


@dataclass
class Job:
    """One fit of one method for one seed, and the levels evaluated with that fit.

    `name` is the row (the method, or an ablation variant such as 'lan[k=5]'); `changes` are the
    variant's option overrides on top of the method's parameters for this run; `also`: the rows
    of detectors whose fit this is (`Detector.fit_of`, `share_fits`) with the levels they report."""

    method: str
    fit_kind: str  # 'session' | 'day'
    levels: tuple[str, ...]
    name: str = ""
    changes: Mapping[str, Any] = field(default_factory=dict)
    also: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.name = self.name or self.method

    def key(self, seed: int) -> tuple[str, str, int]:
        """What identifies a finished job in results.json (for --resume)."""
        return (self.name, self.fit_kind, seed)

    def row_keys(self, seed: int) -> list[tuple[str, str, int]]:
        """The keys of every record this job gives: its own and those of the `also` rows."""
        return [self.key(seed), *((row, self.fit_kind, seed) for row in self.also)]

    @property
    def fit_levels(self) -> tuple[str, ...]:
        """Every level evaluated with this fit (its own, then the `also` rows')."""
        return tuple(dict.fromkeys([*self.levels, *(lv for lvs in self.also.values() for lv in lvs)]))


def plan_jobs(selection: Mapping[str, Sequence[str]], variants: Sequence[Variant] = ()) -> list[Job]:
    """A featured detector (LAN): one fit on sessions for all its levels; baselines: one fit per
    sequence kind; ablation variants: one fit on sessions each (all of LAN's levels)."""
    registry = available()
    if "ablation" in selection:
        return [Job(v.method, "session", TABLE_LEVELS["ablation"], v.name, v.changes) for v in variants]
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


def share_fits(jobs: Sequence[Job], fast: bool, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> list[Job]:
    """`jobs` with each job of a detector whose fit is another's (`Detector.fit_of`) folded into
    that detector's job on the same sequences, when both run with the same parameters: one fit
    then serves both rows (the same numbers, the second fit's time saved)."""
    registry = available()
    out = list(jobs)
    for job in jobs:
        of = registry[job.method].fit_of
        if of is None or job.changes or preset(job.method, fast, overrides) != preset(of, fast, overrides):
            continue
        host = next((h for h in out if h.method == of and h.fit_kind == job.fit_kind and not h.changes), None)
        if host is None:
            continue
        out[out.index(host)] = replace(host, also={**host.also, job.name: job.levels})
        out.remove(job)
    return out
