"""Red-team insiders, scenarios 1-5 of CERT's scenarios.txt, shaped like the real answer files.

Each insider is planned up front (who, which days, when they leave) and then, day by day, emits
its malicious rows into the same stream as normal activity; those rows are what the answer files
list. Counts and durations follow the real r4.2/r5.2 answer sets (FORMATS.md §3.2):

| scenario | rows per insider (real mean)                | window         |
|----------|---------------------------------------------|----------------|
| 1        | 1-4 nights x (logon, connect, [file], http, disconnect, logoff) | 0-9 days |
| 2        | ~125 job-site http, ~14 e-mails, ~87 device  | 6-8 weeks      |
| 3        | ~21 rows (complaints, keylogger, supervisor's PC) | ~1.4 days |
| 4        | ~23 logon, ~23 e-mail, ~61 file (r5.2)       | 1-3 months     |
| 5        | 3-4 Dropbox uploads                          | minutes        |
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from neighborwatch.data.synth import vocab
from neighborwatch.data.synth.behaviour import COLUMNS, COMMON, Pools, Sessions, content_pool, random_names
from neighborwatch.data.synth.organisation import Org

SCENARIOS = {"r4.2": (1, 2, 3), "r5.2": (1, 2, 3, 4), "r6.2": (1, 2, 3, 4, 5)}
# CERT: r4.2 70 of 1,000 (30/30/10); r5.2 99 of 2,000 (29/30/10/30); r6.2 one per scenario.
INSIDER_SHARE = {"r4.2": 0.07, "r5.2": 0.05, "r6.2": 0.00125}
SCENARIO_WEIGHT = {1: 3, 2: 3, 3: 1, 4: 3, 5: 1}
NOMINAL_DAYS = {1: 9, 2: 52, 3: 2, 4: 70, 5: 1}
# Insiders are spread over the three periods downstream splits make, so that thresholds chosen
# on validation have insiders to be chosen on, and training sees some (the hybrid loss needs them).
PLACEMENT = ("test", "validation", "train", "test")
VALIDATION_DAYS = 30  # sequences.splits: validation = the month / 30 days before the test cut
H = 3600


def cut_day(release: str, days: list[dt.date]) -> int:
    """Day index where the downstream test period starts (sequences.splits: the release's cut
    when the span covers it and the month before, else the last quarter of the span)."""
    cut = dt.date(2011, 3, 1) if release == "r6.2" else dt.date(2011, 1, 1)
    month_before = dt.date(cut.year - (cut.month == 1), (cut.month - 2) % 12 + 1, 1)
    if days[0] < month_before and cut < days[-1]:
        return (cut - days[0]).days
    return int(len(days) * 0.75)


@dataclass
class Insider:
    user: int
    scenario: int
    first_day: int
    last_day: int
    plan: dict[int, str] = field(default_factory=dict)  # day -> step name
    data: dict = field(default_factory=dict)
    # day -> ready (source, row) pairs (synth.replay), else None
    replay: dict[int, list[tuple[str, dict]]] | None = None

    def answer_name(self, org: Org) -> str:
        r = org.release
        if r == "r6.2":
            return f"{r}-{self.scenario}.csv"
        return f"{r}-{self.scenario}-{org.user_ids[self.user]}.csv"


def insider_counts(release: str, users: int) -> dict[int, int]:
    scen = SCENARIOS[release]
    if release == "r6.2":
        return {s: 1 for s in scen}
    total = max(len(scen), round(INSIDER_SHARE[release] * users))
    w = np.array([SCENARIO_WEIGHT[s] for s in scen], float)
    counts = np.maximum(1, np.floor(total * w / w.sum())).astype(int)
    i = 0
    while counts.sum() < total:
        counts[i % len(scen)] += 1
        i += 1
    return {s: int(c) for s, c in zip(scen, counts)}


def plan_insiders(org: Org, seed: int) -> list[Insider]:
    """Pick insiders, their windows and leave dates; adjusts their habits so the story holds."""
    rng = np.random.default_rng([seed, 3])
    n_days = len(org.days)
    if n_days < 14:
        raise ValueError("the period must be at least 14 days long to place insiders")
    counts = insider_counts(org.release, org.n)
    cut = cut_day(org.release, org.days)
    taken = {0}
    is_admin = np.array([r == "ITAdmin" for r in org.role])
    insiders: list[Insider] = []
    for i, s in enumerate(scenario_order(counts)):
        dur = max(1, min(NOMINAL_DAYS[s], int(0.8 * (n_days - 4)), int(0.35 * n_days) if s in (2, 4) else n_days))
        ws = window_start(PLACEMENT[i % len(PLACEMENT)], dur, n_days, cut, rng)
        u = pick_user(org, s, is_admin, taken, ws, dur, rng)
        ins = Insider(user=u, scenario=s, first_day=ws, last_day=ws + dur, data={"taken": taken})
        _PLANNERS[s](org, ins, rng)
        del ins.data["taken"]
        if s == 3:
            taken.add(int(org.supervisor[u]))
        ins.first_day, ins.last_day = min(ins.plan), max(ins.plan)
        insiders.append(ins)
    mark_insiders(org, insiders)
    return insiders


def scenario_order(counts: dict[int, int]) -> list[int]:
    """Scenarios interleaved (1, 2, 3, 1, 2, ...), scenario 3 first in each round: it needs an
    administrator whose supervisor is not an insider yet."""
    order: list[int] = []
    for k in range(max(counts.values())):
        order += sorted((s for s in counts if counts[s] > k), key=lambda s: s != 3)
    return order


def window_start(where: str, dur: int, n_days: int, cut: int, rng: np.random.Generator) -> int:
    """First day of a `dur`-day window placed in the `where` period (PLACEMENT)."""
    val = max(1, cut - VALIDATION_DAYS)
    last_start = max(1, n_days - 4 - dur)
    if where == "test":  # the whole window after the test cut when it fits, else ending near the end
        lo_, hi = min(max(cut, 1), last_start), last_start
    elif where == "validation":  # starts inside the validation month, may run on into test
        lo_ = min(val, last_start)
        hi = max(lo_, min(last_start, cut - 3))
    else:  # training: over before the validation month begins
        lo_, hi = 1, max(1, min(last_start, val - dur - 1))
    return int(rng.integers(lo_, hi + 1))


def pick_user(
    org: Org, s: int, is_admin: np.ndarray, taken: set[int], ws: int, dur: int, rng: np.random.Generator
) -> int:
    """A seeded employee who fits scenario `s` in that window; added to `taken`."""
    cand = _candidates(org, s, is_admin, taken, ws, dur)
    if not cand and s == 3:  # small company: make an IT person out of a staff member
        staff = [
            u
            for u in _candidates(org, 2, is_admin, taken, ws, dur)
            if org.supervisor[u] > 0 and int(org.supervisor[u]) not in taken
        ]
        if staff:
            u = int(rng.choice(staff))
            org.role[u], is_admin[u] = "ITAdmin", True
            org.roam_per_day[u] = rng.uniform(1.5, 4.0)
            org.evening_p[u] = max(org.evening_p[u], 0.2)
            cand = [u]
    if not cand:
        raise ValueError(f"no employee fits scenario {s}; use more --users")
    u = int(rng.choice(cand))
    taken.add(u)
    return u


def period_of(first_day: int, cut: int) -> str:
    """train / validation / test by an insider's first day (validation: the 30 days before the cut)."""
    if first_day >= cut:
        return "test"
    return "validation" if first_day >= cut - VALIDATION_DAYS else "train"


def mark_insiders(org: Org, insiders: list[Insider]) -> None:
    org.is_insider = np.zeros(org.n, bool)
    org.is_insider[[x.user for x in insiders]] = True


def _candidates(org: Org, s: int, is_admin: np.ndarray, taken: set[int], ws: int, dur: int) -> list[int]:
    n_days = len(org.days)
    ok = []
    for u in range(org.n):
        if u in taken or org.role[u] in ("President", "VicePresident"):
            continue
        if s in (4, 5) and org.leave_day[u] < n_days:  # scenarios 1-3 set their own leave date
            continue
        if s == 3:
            sup = int(org.supervisor[u])
            if not is_admin[u] or sup <= 0 or sup in taken:
                continue
        elif is_admin[u]:
            continue
        if s == 1 and (org.start_h[u] < 7.0 or org.end_h[u] > 19.5):
            continue
        if s == 5 and (org.team_id[u] < 0 or (org.team_id == org.team_id[u]).sum() < 4):
            continue
        ok.append(u)
    return ok


def _present_days(org: Org, u: int, a: int, b: int) -> list[int]:
    """Working days of u in [a, b]; if a vacation covers them all, the first workday is worked."""
    a, b = max(a, 1), min(b, len(org.days) - 4)
    days = [d for d in range(a, b + 1) if org.present[u, d] and not org.weekend_or_holiday[d]]
    if not days:
        work = [d for d in range(a, b + 1) if not org.weekend_or_holiday[d]]
        work = work or [d for d in range(1, len(org.days) - 3) if not org.weekend_or_holiday[d]]
        org.present[u, work[0]] = True
        days = [work[0]]
    return days


def _leave(org: Org, ins: Insider, after: int) -> None:
    org.leave_day[ins.user] = min(len(org.days), after) if after < len(org.days) - 1 else len(org.days)


def _plan_s1(org: Org, ins: Insider, rng: np.random.Generator) -> None:
    u = ins.user
    org.device_per_h[u] = 0.0
    org.evening_p[u] = 0.0
    org.weekend_p[u] = 0.0
    org.local_files_per_h[u] = 0.0
    span = ins.last_day - ins.first_day
    k = int(rng.choice([1, 2, 3, 4], p=[0.2, 0.4, 0.25, 0.15]))
    nights = {ins.first_day} | {ins.first_day + int(x) for x in rng.integers(1, max(2, span + 1), k - 1)}
    ins.plan = {d: "night" for d in sorted(nights)}
    ins.data["url"] = (
        f"http://{vocab.LEAK_SITE}/{vocab.rot13('Inside_Story')}/"
        f"{vocab.rot13('companysecrets')}{int(rng.integers(10**8, 2 * 10**9))}.php"
    )
    _leave(org, ins, max(ins.plan) + int(rng.integers(2, 10)))


def _plan_s2(org: Org, ins: Insider, rng: np.random.Generator) -> None:
    u = ins.user
    if rng.random() < 0.5:
        org.device_per_h[u] = 0.0
    else:
        org.device_per_h[u] = min(org.device_per_h[u], 0.03)
    a, b = ins.first_day, ins.last_day
    span = b - a
    for d in _present_days(org, u, a, a + int(0.75 * span)):
        if rng.random() < 0.8:
            ins.plan[d] = "job"
    for d in _present_days(org, u, a + int(0.55 * span), b):
        if rng.random() < 0.5 or d == b:
            ins.plan[d] = "job+device" if d in ins.plan else "device"
    if not ins.plan:
        ins.plan[_present_days(org, u, a, b)[0]] = "job+device"
    ins.data["competitor"] = (
        f"{rng.choice(vocab.FIRST_NAMES)}_{rng.choice(vocab.LAST_NAMES)}@{rng.choice(vocab.COMPETITOR_DOMAINS)}"
    )
    _leave(org, ins, max(ins.plan) + int(rng.integers(1, 7)))


def _plan_s3(org: Org, ins: Insider, rng: np.random.Generator) -> None:
    u = ins.user
    a = _present_days(org, u, ins.first_day, len(org.days))[0]
    ins.plan = {a: "complain", a + 1: "impersonate"}
    sup = int(org.supervisor[u])
    org.leave_day[sup] = max(org.leave_day[sup], min(len(org.days), a + 5))
    _leave(org, ins, a + 2)


def _plan_s4(org: Org, ins: Insider, rng: np.random.Generator) -> None:
    u = ins.user
    days = _present_days(org, u, ins.first_day, ins.last_day)
    n_ep = max(2, int(round(rng.uniform(7, 12) * min(1.0, len(days) / 45))))
    # more and more frequent: positions with density rising over the window
    pos = np.sqrt(rng.random(n_ep)) * (len(days) - 1)
    chosen = sorted({days[0]} | {days[int(p)] for p in pos} | {days[-1]})
    ins.plan = {d: "snoop" for d in chosen}


def _plan_s5(org: Org, ins: Insider, rng: np.random.Generator) -> None:
    u = ins.user
    d = _present_days(org, u, ins.first_day, len(org.days))[0]
    ins.plan = {d: "upload"}
    # the insider's group is decimated by layoffs in the weeks before
    taken = ins.data["taken"]
    mates = [
        int(v)
        for v in np.flatnonzero(org.team_id == org.team_id[u])
        if v != u and org.role[v] != "Manager" and v not in taken
    ]
    for v in rng.permutation(mates)[: max(1, len(mates) // 2)]:
        org.leave_day[v] = min(org.leave_day[v], max(1, d - int(rng.integers(3, 30))))


def _header(rng: np.random.Generator, ext: str) -> str:
    """File header of an extension; txt files get random bytes, as in CERT."""
    return vocab.FILE_HEADERS.get(ext) or "-".join(f"{b:02X}" for b in rng.integers(0x30, 0x5B, 4))


_PLANNERS = {1: _plan_s1, 2: _plan_s2, 3: _plan_s3, 4: _plan_s4, 5: _plan_s5}


class Emitter:
    """Builds malicious rows of one day in the internal table format (behaviour.COLUMNS)."""

    def __init__(self, org: Org, pools: Pools, sess: Sessions, day0: int, rng: np.random.Generator) -> None:
        self.org, self.pools, self.sess, self.day0, self.rng = org, pools, sess, day0, rng
        self.rel = org.release
        self.first, self.last = sess.main_span(org.n)
        self.rows: dict[str, list[dict]] = {s: [] for s in COLUMNS}
        self.ins = -1
        self.scen = 0

    def words(self, words: tuple[str, ...] | list[str], lo: int = 8, hi: int = 20) -> str:
        return content_pool(self.rng, words, 1, lo, hi, self.rel == "r6.2")[0]

    def label(self, text: str | None) -> str | None:
        return None if self.rel == "r4.2" else text

    def add(self, source: str, t: float, user: int, pc: int, label: str | None = None, **fields: str) -> int:
        row: dict[str, str | int | None] = {c: fields.get(c, "") for c in COLUMNS[source]}
        row.update(t=int(t), user=int(user), pc=int(pc), label=label, scen=self.scen, ins=self.ins)
        self.rows[source].append(row)
        return int(t)

    def logon(self, t: float, u: int, pc: int, act: str) -> int:
        return self.add("logon", t, u, pc, activity=act)

    def device(self, t: float, u: int, pc: int, act: str) -> int:
        tree = self.org.file_tree[u] if (act == "Connect" and self.rel != "r4.2") else ""
        return self.add("device", t, u, pc, file_tree=tree, activity=act)

    def http(
        self, t: float, u: int, pc: int, url: str, content: str, label: str | None, activity: str = "WWW Visit"
    ) -> int:
        return self.add(
            "http",
            t,
            u,
            pc,
            self.label(label),
            url=url,
            content=content,
            activity=activity if self.rel == "r6.2" else "",
        )

    def file(
        self,
        t: float,
        u: int,
        pc: int,
        path: str,
        activity: str,
        to_rem: str,
        from_rem: str,
        content: str,
        label: str | None,
    ) -> int:
        if self.rel == "r4.2":
            return self.add("file", t, u, pc, filename=path.rsplit("\\", 1)[-1], content=content)
        return self.add(
            "file",
            t,
            u,
            pc,
            self.label(label),
            filename=path,
            activity=activity,
            to_rem=to_rem,
            from_rem=from_rem,
            content=content,
        )

    def email(
        self,
        t: float,
        u: int,
        pc: int,
        to: str,
        sender: str,
        content: str,
        label: str | None,
        activity: str = "Send",
        cc: str = "",
        bcc: str = "",
        attachments: Sequence[tuple[str, int]] = (),
        size: int | None = None,
    ) -> int:
        att = str(len(attachments)) if self.rel == "r4.2" else ";".join(f"{a}({b})" for a, b in attachments)
        size = size if size is not None else int(self.rng.normal(30000, 9000)) + sum(b for _, b in attachments)
        return self.add(
            "email",
            t,
            u,
            pc,
            self.label(label),
            to=to,
            cc=cc,
            bcc=bcc,
            from_=sender,
            activity=activity if self.rel != "r4.2" else "",
            size=str(max(size, 9000)),
            attachments=att,
            content=content,
        )

    def frames(self) -> dict[str, pl.DataFrame]:
        out = {}
        for s, rows in self.rows.items():
            if not rows:
                continue
            df = pl.DataFrame(
                rows,
                schema={c: pl.Utf8 for c in COLUMNS[s]}
                | {"t": pl.Int64, "user": pl.Int32, "pc": pl.Int32, "scen": pl.Int8, "ins": pl.Int32, "label": pl.Utf8},
            )
            out[s] = df.select(*COMMON, *COLUMNS[s])
        return out

    # ------------------------------------------------------------------ scenarios
    def emit(self, ins: Insider, index: int, d: int) -> None:
        step = ins.plan.get(d)
        if step is None:
            return
        self.ins, self.scen = index, ins.scenario
        if ins.replay is not None:  # a real insider's rows, already mapped into this organisation
            for source, row in ins.replay.get(d, ()):
                self.add(source, **row)
            return
        {1: self._s1, 2: self._s2, 3: self._s3, 4: self._s4, 5: self._s5}[ins.scenario](ins, d, step)

    def _gap(self, lo_min: float, hi_min: float) -> float:
        return float(self.rng.uniform(lo_min * 60, hi_min * 60))

    def _s1(self, ins: Insider, d: int, step: str) -> None:
        u, pc, r = ins.user, int(self.org.pc[ins.user]), self.rng
        t = self.day0 + r.uniform(21.0, 26.0) * H
        if self.last[u] > 0:
            t = max(t, self.last[u] + self._gap(30, 90))
        lab = "The_Real_Story_About_DTAA"
        t = self.logon(t, u, pc, "Logon")
        t = self.device(t + self._gap(2, 60), u, pc, "Connect")
        if self.rel != "r4.2":
            for _ in range(int(r.integers(1, 5))):
                ext = str(r.choice(["doc", "pdf", "txt", "zip"]))
                name = f"R:\\{random_names(r, 1)[0]}.{ext}"
                flab = lab if self.rel == "r6.2" else str(r.choice(vocab.HOBBY_TOPICS))
                t = self.file(
                    t + self._gap(1, 40),
                    u,
                    pc,
                    name,
                    "File Open",
                    "False",
                    "True",
                    f"{_header(r, ext)} {self.words(vocab.COMMON_WORDS)}",
                    flab,
                )
        url, act = ins.data["url"], "WWW Visit"
        content = self.words(vocab.LEAK_WORDS)
        if self.rel == "r6.2":
            url, act = f"{url}/{random_names(r, 1)[0]}.zip", "WWW Upload"
            content = f"{vocab.FILE_HEADERS['zip']} {content}"
        t = self.http(t + self._gap(1, 30), u, pc, url, content, lab, act)
        t = self.device(t + self._gap(1, 30), u, pc, "Disconnect")
        self.logon(t + self._gap(1, 30), u, pc, "Logoff")

    def _in_day(self, u: int, k: int, tail_min: float = 15) -> np.ndarray:
        """k sorted times inside the insider's working session today."""
        a, b = self.first[u] + 600, self.last[u] - tail_min * 60
        if a <= 0 or b <= a:
            a, b = self.day0 + 9 * H, self.day0 + 17 * H
        return np.sort(self.rng.uniform(a, b, k))

    def _s2(self, ins: Insider, d: int, step: str) -> None:
        u, pc, r, org = ins.user, int(self.org.pc[ins.user]), self.rng, self.org
        lab = "jobsearch" if self.rel == "r6.2" else "Job Hunting"
        if "job" in step:
            for t in self._in_day(u, 1 + int(r.poisson(3.5))):
                self.http(
                    t,
                    u,
                    pc,
                    str(self.pools.job_urls[int(r.integers(len(self.pools.job_urls)))]),
                    self.words(vocab.JOB_WORDS),
                    lab,
                )
            if r.random() < 0.4:
                cc = org.personal_emails[u] if r.random() < 0.3 else ""
                self.email(
                    self._in_day(u, 1)[0],
                    u,
                    pc,
                    ins.data["competitor"],
                    org.emails[u],
                    self.words(vocab.JOB_WORDS, 12, 30),
                    lab,
                    cc=cc,
                )
        if "device" in step:
            k = 3 + int(r.poisson(4))
            a, b = self.first[u] + 900, self.last[u] - 1800
            if a <= 0 or b <= a:
                a, b = self.day0 + 9 * H, self.day0 + 17 * H
            starts = np.sort(r.uniform(a, b, k))
            ends = np.minimum(starts + r.uniform(20, 1800, k), np.append(starts[1:] - 5, b + 1500))
            for s0, e0 in zip(starts, ends):
                self.device(s0, u, pc, "Connect")
                self.device(max(e0, s0 + 1), u, pc, "Disconnect")

    def _s3(self, ins: Insider, d: int, step: str) -> None:
        u, org, r = ins.user, self.org, self.rng
        sup = int(org.supervisor[u])
        pc, spc = int(org.pc[u]), int(org.pc[sup])
        rel = self.rel
        if step == "complain":
            a = self.first[u] if self.first[u] > 0 else self.day0 + 8 * H
            b = self.last[u] if self.last[u] > 0 else self.day0 + 17 * H
            t = a + (b - a) * 0.08
            for n, (to_lab, from_lab) in enumerate(
                (
                    ("AA First Email To Supervisor", "AA First Email From Supervisor"),
                    ("AA Second Email To Supervisor", "AA Second Email From Supervisor"),
                )
            ):
                body, size = self.words(vocab.COMPLAINT_WORDS, 10, 25), int(r.normal(30000, 9000))
                t = self.email(t, u, pc, org.emails[sup], org.emails[u], body, to_lab, size=size)
                if rel == "r6.2":  # the reader's copy: same size and content, a minute later
                    self.email(
                        t + 60, sup, spc, org.emails[sup], org.emails[u], body, to_lab, activity="View", size=size
                    )
                t += (b - a) * 0.12
                reply, size = self.words(vocab.REPLY_WORDS, 10, 25), int(r.normal(30000, 9000))
                if rel == "r4.2":
                    t = self.email(t, sup, spc, org.emails[u], org.emails[sup], reply, from_lab, size=size)
                elif rel == "r5.2":
                    t = self.email(
                        t, u, pc, org.emails[u], org.emails[sup], reply, from_lab, activity="Receive", size=size
                    )
                else:
                    t = self.email(t, sup, spc, org.emails[u], org.emails[sup], reply, from_lab, size=size)
                    self.email(
                        t + 60, u, pc, org.emails[u], org.emails[sup], reply, from_lab, activity="View", size=size
                    )
                t += (b - a) * 0.12
            lab = "AA Keylogger"
            for k in range(int(r.integers(3, 6))):
                dom = vocab.KEYLOGGER_DOMAINS[int(r.integers(len(vocab.KEYLOGGER_DOMAINS)))]
                url = f"http://{dom}/{vocab.rot13('AAKeylogger')}{int(r.integers(10**8, 2 * 10**9))}.php"
                t = self.http(t + self._gap(2, 15), u, pc, url, self.words(vocab.KEYLOG_WORDS), lab)
            exe = f"{vocab.FILE_HEADERS['exe']} {self.words(vocab.KEYLOG_WORDS)}"
            t = self.device(t + self._gap(2, 20), u, pc, "Connect")
            name = "R:\\keylogger.exe" if rel != "r4.2" else f"R:\\{random_names(r, 1)[0]}.exe"
            ins.data["exe"] = name
            t = self.file(t + self._gap(1, 5), u, pc, name, "File Write", "True", "False", exe, lab)
            t = self.device(t + self._gap(1, 5), u, pc, "Disconnect")
            t = max(t, b) + self._gap(30, 150)
            t = self.logon(t, u, spc, "Logon")
            t = self.device(t + self._gap(1, 5), u, spc, "Connect")
            if rel != "r4.2":
                t = self.file(t + self._gap(0.1, 2), u, spc, name, "File Open", "False", "True", exe, lab)
            t = self.device(t + self._gap(1, 8), u, spc, "Disconnect")
            self.logon(t + self._gap(1, 8), u, spc, "Logoff")
        else:  # the next evening: collect the key logs, log in as the supervisor, mass e-mail
            t = self.day0 + r.uniform(17.0, 20.5) * H
            t = self.logon(t, u, spc, "Logon")
            t = self.logon(t + self._gap(5, 20), u, spc, "Logoff")
            as_user = sup if rel == "r4.2" else u
            t = self.logon(t + self._gap(2, 10), as_user, spc, "Logon")
            employed = np.flatnonzero(org.leave_day > d)
            picked = r.choice(employed, min(len(employed), int(r.integers(15, 40))), replace=False)
            rec = [int(v) for v in picked if v not in (u, sup)]
            body, size = self.words(vocab.COMPLAINT_WORDS + vocab.LEAK_WORDS, 15, 30), int(r.normal(30000, 9000))
            lab = "AA Alarming Email"
            t = self.email(
                t + self._gap(3, 12),
                as_user,
                spc,
                ";".join(org.emails[v] for v in rec),
                org.emails[sup],
                body,
                lab,
                size=size,
            )
            if rel == "r6.2":
                for v in rec:
                    self.email(
                        t + 60,
                        v,
                        int(org.pc[v]),
                        ";".join(org.emails[x] for x in rec),
                        org.emails[sup],
                        body,
                        lab,
                        activity="View",
                        size=size,
                    )
            self.logon(t + self._gap(2, 6), as_user, spc, "Logoff")

    def _s4(self, ins: Insider, d: int, step: str) -> None:
        u, org, r = ins.user, self.org, self.rng
        others = np.flatnonzero((org.leave_day > d) & (np.arange(org.n) != u))
        vpc = int(org.pc[int(r.choice(others))])
        end = self.last[u] if self.last[u] > 0 else self.day0 + 17 * H
        t = max(end - self._gap(0, 30), self.day0 + 16.5 * H) + self._gap(0, 120)
        topic = str(r.choice(vocab.HOBBY_TOPICS)) if self.rel == "r5.2" else "jobsearch"
        t = self.logon(t, u, vpc, "Logon")
        opened: list[tuple[str, int]] = []
        for _ in range(3 + int(r.poisson(3))):
            ext = str(r.choice(["doc", "pdf", "jpg", "zip", "txt"], p=[0.5, 0.2, 0.1, 0.1, 0.1]))
            sub = f"{random_names(r, 1, 7)[0]}\\" if r.random() < 0.6 else ""
            path = f"C:\\{sub}{random_names(r, 1)[0]}.{ext}"
            hdr = _header(r, ext)
            flab = None if self.rel == "r5.2" else topic  # r5.2-4 file rows have no label column
            t = self.file(
                t + self._gap(0.3, 4),
                u,
                vpc,
                path,
                "File Open",
                "False",
                "False",
                f"{hdr} {self.words(vocab.COMMON_WORDS)}",
                flab,
            )
            opened.append((path, int(r.lognormal(np.log(400000), 0.8))))
        for _ in range(int(r.integers(1, 4))):
            pick = [
                opened[int(i)]
                for i in sorted(r.choice(len(opened), int(r.integers(1, min(4, len(opened)) + 1)), replace=False))
            ]
            if self.rel == "r5.2":
                att = [
                    (f"{vocab.COMMON_WORDS[int(r.integers(len(vocab.COMMON_WORDS)))]}.{p.rsplit('.', 1)[1]}", s)
                    for p, s in pick
                ]
            else:
                att = pick
            body = self.words(vocab.COMMON_WORDS)
            size = int(r.normal(30000, 9000)) + sum(s for _, s in att)
            t = self.email(
                t + self._gap(0.5, 3),
                u,
                vpc,
                org.personal_emails[u],
                org.emails[u],
                body,
                topic,
                attachments=att,
                size=size,
            )
            if self.rel == "r5.2":
                self.email(
                    t + 60,
                    u,
                    int(org.pc[u]),
                    org.personal_emails[u],
                    org.emails[u],
                    body,
                    topic,
                    activity="Receive",
                    attachments=att,
                    size=size,
                )
        self.logon(t + self._gap(2, 10), u, vpc, "Logoff")

    def _s5(self, ins: Insider, d: int, step: str) -> None:
        u, r = ins.user, self.rng
        pc = int(self.org.pc[u])
        t = self._in_day(u, 1, 30)[0]
        folder = f"{vocab.CLOUD_UPLOAD}/{vocab.rot13('Personal')}{int(r.integers(10**8, 2 * 10**9))}.aspx"
        for _ in range(int(r.integers(3, 5))):
            ext = str(r.choice(["zip", "doc", "jpg", "pdf"]))
            t = self.http(
                t + self._gap(0.05, 0.7),
                u,
                pc,
                f"{folder}/{random_names(r, 1)[0]}.{ext}",
                f"{vocab.FILE_HEADERS[ext]} {self.words(vocab.COMMON_WORDS)}",
                "layoff",
                "WWW Upload",
            )
