"""Real CERT insiders replayed into a synthetic organisation (`synth --insiders real`).

The synthetic generator's own insiders follow CERT's scenario texts; these are CERT's answer rows
themselves, read at run time from a release's `answers/` folder (never copied anywhere). Each
chosen insider's rows are moved into the organisation's period by whole weeks (weekday and clock
time are kept, so "after hours" stays after hours) and placed in the train / validation / test
periods like synthetic insiders (insiders.PLACEMENT). People, PCs and addresses are mapped:

* the insider → an employee who fits the scenario (insiders.pick_user), the other users of the
  file (r4.2-3: the supervisor being impersonated) → that employee's supervisor in scenario 3,
  else a fixed colleague;
* the insider's own PC (the PC of its first received e-mail, else of its first row) → the
  employee's PC; other PCs → the supervisor's (scenario 3) or other colleagues' PCs (scenario 4);
* company addresses (@dtaa.com) → the mapped people's, external ones are kept except in
  scenario 4, where they are the insider's home address; thumb-drive trees → the employee's.

The rows keep their content, URLs, sizes and r5 label column; the writer gives them new ids and
lists them in answers/ like any other malicious row, so `prepare` labels them.
"""

from __future__ import annotations

import calendar
import csv
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neighborwatch.data.answers import find_answer_files, parse_time
from neighborwatch.data.synth.behaviour import DAY
from neighborwatch.data.synth.insiders import (
    PLACEMENT,
    Insider,
    cut_day,
    insider_counts,
    mark_insiders,
    pick_user,
    scenario_order,
    window_start,
)
from neighborwatch.data.synth.organisation import Org
from neighborwatch.data.synth.writers import FIELDS

REPLAY_RELEASES = ("r4.2", "r5.2")  # per-insider answer files; r6.2's are flat and quoted
COMPANY_DOMAIN = "@dtaa.com"
_USER_ID = re.compile(r"[A-Z]{3}\d{4}")
MIN_SLACK_DAYS = 12  # period days beyond an insider's span, so a whole-week shift always fits


@dataclass
class RealInsider:
    """One real answer file: its rows (csv fields, type column first) and their clock times."""

    name: str
    user: str
    scenario: int
    rows: list[list[str]]
    times: list[int]  # seconds since the epoch of the naive CERT clock

    @property
    def span_days(self) -> int:
        return (self.times[-1] // DAY) - (self.times[0] // DAY)


def load_real_insiders(answers: Path, release: str) -> dict[int, list[RealInsider]]:
    """The release's per-insider answer files under `answers`, by scenario, in file-name order."""
    if release not in REPLAY_RELEASES:
        raise ValueError(
            f"--insiders real replays {' and '.join(REPLAY_RELEASES)} answer files; got --release {release}"
        )
    answers = Path(answers)
    if not answers.is_dir():
        raise ValueError(
            f"--answers {answers} is not a folder (give a release's answers/, e.g. cert-samples/r4.2/answers)"
        )
    found: dict[int, list[RealInsider]] = {}
    for af in find_answer_files(answers):
        if af.dataset != release[1:] or af.insider is None or af.scenario is None:
            continue
        rows, times = [], []
        with af.path.open(newline="", encoding="utf-8", errors="replace") as fh:
            for line, fields in enumerate(csv.reader(fh), 1):
                if not fields or not any(f.strip() for f in fields):
                    continue
                when = parse_time(fields[2]) if len(fields) > 5 else None
                if fields[0] not in FIELDS[release] or when is None:
                    raise ValueError(f"{af.path}:{line}: not a {release} answer row")
                rows.append(fields)
                times.append(calendar.timegm(when.timetuple()))
        if rows:
            order = sorted(range(len(rows)), key=lambda i: times[i])
            found.setdefault(af.scenario, []).append(
                RealInsider(af.path.name, af.insider, af.scenario, [rows[i] for i in order], [times[i] for i in order])
            )
    if not found:
        raise ValueError(f"no {release} per-insider answer files ({release}-S-USER.csv) under {answers}")
    return found


def plan_real_insiders(org: Org, answers: Path, seed: int) -> list[Insider]:
    """As many insiders per scenario as synthetic planning would make, each a real answer file
    (seeded choice among those that fit the period), mapped and placed; habits adjusted like
    the scenario text says (scenario 1: no thumb drive or after-hours work before)."""
    real = load_real_insiders(answers, org.release)
    rng = np.random.default_rng([seed, 8])
    n_days = len(org.days)
    counts = insider_counts(org.release, org.n)
    lacking = [s for s in counts if not real.get(s)]
    if lacking:
        raise ValueError(f"{answers} has no {org.release} answer files for scenario(s) {lacking}")
    queue = {s: [real[s][int(i)] for i in rng.permutation(len(real[s]))] for s in sorted(counts)}
    cut = cut_day(org.release, org.days)
    taken = {0}
    is_admin = np.array([r == "ITAdmin" for r in org.role])
    t0 = calendar.timegm(org.days[0].timetuple())
    insiders: list[Insider] = []
    for i, s in enumerate(scenario_order(counts)):
        fits = [x for x in queue[s] if x.span_days + MIN_SLACK_DAYS <= n_days]
        if not fits:
            raise ValueError(
                f"no real scenario-{s} insider fits a {n_days}-day period; use a longer --start..--end or fewer users"
            )
        src = fits[0]
        queue[s].remove(src)
        queue[s].append(src)  # reused only once every file of the scenario was used
        dur = src.span_days + 1
        ws = window_start(PLACEMENT[i % len(PLACEMENT)], dur, n_days, cut, rng)
        shift = _week_shift(src.times[0] // DAY - t0 // DAY, ws, src.span_days, n_days)
        first = src.times[0] // DAY - t0 // DAY + shift
        u = pick_user(org, s, is_admin, taken, first, dur, rng)
        ins = Insider(user=u, scenario=s, first_day=first, last_day=first + src.span_days)
        ins.replay = replay = _mapped_rows(org, src, ins, shift * DAY, taken, rng)
        ins.plan = {d: "replay" for d in replay}
        ins.data = {"replayed_from": src.name, "real_user": src.user, "shift_days": shift}
        _adjust_habits(org, ins, rng)
        if s == 3:
            taken.add(int(org.supervisor[u]))
        insiders.append(ins)
    mark_insiders(org, insiders)
    return insiders


def _week_shift(day0: int, target: int, span: int, n_days: int) -> int:
    """Days to add (a multiple of 7) so a window starting on day `day0` starts near `target`,
    inside [1, n_days - 5 - span]."""
    lo, hi = 1, n_days - 5 - span
    base = target - day0
    options = [base - base % 7 + 7 * k for k in (0, 1, -1, 2, -2)]
    inside = [x for x in options if lo <= day0 + x <= hi]
    return min(inside, key=lambda x: abs(x - base))


def _own_pc(src: RealInsider) -> str:
    for r in src.rows:
        if r[0] == "email" and r[3] == src.user and r[9] == "Receive":
            return r[4]
    return src.rows[0][4]


def _mapped_rows(
    org: Org, src: RealInsider, ins: Insider, shift_s: int, taken: set[int], rng: np.random.Generator
) -> dict[int, list[tuple[str, dict]]]:
    """Internal rows (source, fields) by day index, with people, PCs and addresses mapped."""
    u, s = ins.user, ins.scenario
    sup = int(org.supervisor[u])
    colleagues = [int(v) for v in rng.permutation(org.n) if v not in (u, sup) and v not in taken]
    pick = itertools.cycle(colleagues)  # a mass e-mail may name more people than a small org has
    users: dict[str, int] = {src.user: u}
    pcs: dict[str, int] = {_own_pc(src): int(org.pc[u])}
    addresses: dict[str, str] = {}
    insider_sends = [r for r in src.rows if r[0] == "email" and r[3] == src.user and r[9] != "Receive"]
    if insider_sends:
        addresses[insider_sends[0][8].lower()] = org.emails[u]
    if s == 3 and sup >= 0 and insider_sends:
        addresses[insider_sends[0][5].lower()] = org.emails[sup]

    def user_of(real: str) -> int:
        if real not in users:
            users[real] = sup if (s == 3 and sup >= 0) else next(pick)
        return users[real]

    def pc_of(real: str) -> int:
        if real not in pcs:
            pcs[real] = int(org.pc[sup]) if (s == 3 and sup >= 0) else int(org.pc[next(pick)])
        return pcs[real]

    def address(a: str) -> str:
        key = a.strip().lower()
        if not key:
            return a
        if not key.endswith(COMPANY_DOMAIN):
            return org.personal_emails[u] if s == 4 else a
        if key not in addresses:
            addresses[key] = org.emails[next(pick)]
        return addresses[key]

    t0 = calendar.timegm(org.days[0].timetuple())
    out: dict[int, list[tuple[str, dict]]] = {}
    for fields, t in zip(src.rows, src.times):
        source = fields[0]
        spec = FIELDS[org.release][source]
        values, label = fields[5:], None
        if len(values) == len(spec) + 1 and spec[-1][0] == "content":  # r5+ label column
            label, values = values[-2], values[:-2] + values[-1:]
        if len(values) != len(spec):
            raise ValueError(f"{src.name}: a {source} row has {len(fields)} fields, not {len(spec) + 5}")
        row: dict = {col: v for (_, col), v in zip(spec, values)}
        who = user_of(fields[3])
        for col in ("to", "cc", "bcc", "from_"):
            if col in row:
                mapped = dict.fromkeys(address(a) for a in row[col].split(";")) if row[col] else {}
                row[col] = ";".join(mapped)
        if row.get("file_tree"):
            row["file_tree"] = org.file_tree[who]
        if "filename" in row:
            row["filename"] = _USER_ID.sub(
                lambda m: org.user_ids[users[m.group()]] if m.group() in users else m.group(), row["filename"]
            )
        when = t + shift_s
        row.update(t=when, user=who, pc=pc_of(fields[4]), label=label)
        out.setdefault((when - t0) // DAY, []).append((source, row))
    return out


def _adjust_habits(org: Org, ins: Insider, rng: np.random.Generator) -> None:
    """Background habits that the scenario text presumes, presence on the replayed days, and
    leaving afterwards (scenarios 1-3 leave the organisation)."""
    u, s, n_days = ins.user, ins.scenario, len(org.days)
    for d in ins.plan:
        if not org.weekend_or_holiday[d]:
            org.present[u, d] = True
    if s == 1:  # "did not previously use removable drives or work after hours"
        org.device_per_h[u] = org.evening_p[u] = org.weekend_p[u] = org.local_files_per_h[u] = 0.0
    elif s == 2:  # "at markedly higher rates than their previous activity"
        org.device_per_h[u] = 0.0 if rng.random() < 0.5 else min(org.device_per_h[u], 0.03)
    if s == 3:
        sup = int(org.supervisor[u])
        org.leave_day[sup] = max(org.leave_day[sup], min(n_days, ins.last_day + 5))
        org.leave_day[u] = min(n_days, ins.last_day + 1)
    elif s in (1, 2):
        org.leave_day[u] = min(n_days, ins.last_day + int(rng.integers(2, 10)))
    else:
        org.leave_day[u] = n_days
