"""The synthetic company: people, hierarchy, PCs, personalities, leavers and working habits.

Numbers are calibrated on the real r4.2 rows in ../shared/cert-samples (see the comments); the
behaviour module turns these per-user parameters into daily activity.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from neighborwatch.data.synth import vocab

# functional unit -> (departments, staff roles with weights)
UNITS: tuple[tuple[str, tuple[str, ...], tuple[tuple[str, float], ...]], ...] = (
    (
        "InformationTechnology",
        ("ITOperations", "ITSupport"),
        (("ITAdmin", 0.7), ("NetworkEngineer", 0.15), ("HelpDeskTechnician", 0.15)),
    ),
    (
        "ResearchAndEngineering",
        ("SoftwareEngineering", "HardwareEngineering", "TestAndEvaluation"),
        (
            ("ComputerProgrammer", 0.35),
            ("SoftwareEngineer", 0.25),
            ("ElectricalEngineer", 0.2),
            ("TestEngineer", 0.1),
            ("Scientist", 0.1),
        ),
    ),
    (
        "Manufacturing",
        ("Assembly", "QualityControl"),
        (("ProductionLineWorker", 0.5), ("Technician", 0.3), ("QualityInspector", 0.2)),
    ),
    (
        "SalesAndMarketing",
        ("Sales", "Marketing", "FieldService"),
        (("Salesman", 0.5), ("MarketingSpecialist", 0.25), ("FieldServiceEngineer", 0.25)),
    ),
    ("Finance", ("Accounting", "Payroll"), (("Accountant", 0.6), ("FinancialAnalyst", 0.3), ("PayrollClerk", 0.1))),
    (
        "Administration",
        ("HumanResources", "Facilities"),
        (("HumanResourceSpecialist", 0.4), ("AdministrativeAssistant", 0.4), ("Receptionist", 0.2)),
    ),
)
TEAM_SIZE = 9  # staff per team, before management


@dataclass
class Org:
    """Column-oriented employee table: index i is the same person in every array."""

    release: str
    days: list[dt.date]
    user_ids: list[str]
    names: list[str]
    emails: list[str]
    personal_emails: list[str]
    role: list[str]
    projects: list[str]
    business_unit: list[str]
    functional_unit: list[str]
    department: list[str]
    team: list[str]
    team_id: np.ndarray  # int, -1 for executives
    supervisor: np.ndarray  # index, -1 for the top
    pc: np.ndarray  # own PC number
    shared_pcs: np.ndarray
    leave_day: np.ndarray  # index of the first day the person is gone (len(days) = stays)
    psych: np.ndarray  # (n, 5) O C E A N
    # working habits
    start_h: np.ndarray
    end_h: np.ndarray
    jitter_h: np.ndarray
    http_per_h: np.ndarray
    email_per_h: np.ndarray
    device_per_h: np.ndarray  # 0 = never uses removable media
    files_per_connect: np.ndarray
    local_files_per_h: np.ndarray  # r5+: file events on C:\ outside removable media
    evening_p: np.ndarray  # chance per workday of an evening / night session
    weekend_p: np.ndarray
    roam_per_day: np.ndarray  # expected sessions per day on other PCs
    lock_per_day: np.ndarray  # Logoff/Logon pairs inside the working day
    unlock_per_day: np.ndarray  # extra Logon rows (screen unlocks, no Logoff)
    jobsite_p: np.ndarray  # share of web visits that go to job sites
    fav_urls: np.ndarray  # (n, K) indices into url pool
    contacts: np.ndarray  # (n, C) indices into external contact pool
    file_tree: list[str]  # r5+: directories on the user's thumb drive
    present: np.ndarray  # (n, days) bool: at work on that working day
    weekend_or_holiday: np.ndarray  # (days,) bool
    external_contacts: list[str] = field(default_factory=list)
    is_insider: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.user_ids)

    def employed(self, day: int) -> np.ndarray:
        return self.leave_day > day


def us_holidays(year: int) -> set[dt.date]:
    """Federal holidays, so that the calendar has days off besides weekends."""

    def nth(weekday: int, month: int, k: int) -> dt.date:
        d = dt.date(year, month, 1)
        d += dt.timedelta(days=(weekday - d.weekday()) % 7)
        return d + dt.timedelta(weeks=k - 1)

    def last(weekday: int, month: int) -> dt.date:
        d = dt.date(year, month + 1, 1) - dt.timedelta(days=1)
        return d - dt.timedelta(days=(d.weekday() - weekday) % 7)

    return {
        dt.date(year, 1, 1),
        nth(0, 1, 3),
        nth(0, 2, 3),
        last(0, 5),
        dt.date(year, 7, 4),
        nth(0, 9, 1),
        nth(3, 11, 4),
        dt.date(year, 12, 24),
        dt.date(year, 12, 25),
    }


def _unique_ids(rng: np.random.Generator, names: list[tuple[str, str, str]], id_max: int) -> list[str]:
    """ABC1234: initials plus a number (CERT r4.2 numbers stop at 1000, r5/r6 go above)."""
    numbers = rng.permutation(np.arange(1, id_max + 1))[: len(names)]
    return [f"{f[0]}{m[0]}{l[0]}{num:04d}".upper() for (f, m, l), num in zip(names, numbers)]


def build_org(release: str, users: int, days: list[dt.date], seed: int) -> Org:
    """Draw the organisation; insiders are chosen afterwards (insiders.plan_insiders)."""
    if users < 10:
        raise ValueError(f"--users must be at least 10 (got {users})")
    rng = np.random.default_rng([seed, 1])
    n = users
    n_days = len(days)

    # --- people and names -------------------------------------------------------------------
    triples: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    while len(triples) < n:
        f, m = rng.choice(vocab.FIRST_NAMES, 2, replace=False)
        last = rng.choice(vocab.LAST_NAMES)
        key = f"{f}.{m}.{last}"
        if key not in seen:
            seen.add(key)
            triples.append((str(f), str(m), str(last)))
    id_max = {"r4.2": max(1000, n), "r5.2": max(2000, 2 * n), "r6.2": max(4000, 4 * n)}[release]
    user_ids = _unique_ids(rng, triples, id_max)
    names = [f"{f} {m} {l}" for f, m, l in triples]
    emails = [f"{f}.{m}.{l}@dtaa.com" for f, m, l in triples]
    personal = []
    for i, (f, m, l) in enumerate(triples):
        dom = vocab.PERSONAL_DOMAINS[int(rng.integers(len(vocab.PERSONAL_DOMAINS)))]
        style = int(rng.integers(4))
        local = (f"{f}_{l}", f"{l}-{f}", f"{f[0]}{m[0]}{l[0]}{int(rng.integers(10, 99))}", f"{f}.{l}")[style]
        personal.append(f"{local}@{dom}")

    # --- hierarchy ----------------------------------------------------------------------------
    n_teams = max(2, round(n / (TEAM_SIZE + 1.3)))
    n_units = min(len(UNITS), max(2, (n_teams + 1) // 2))
    with_vps = n >= 40
    team_unit = np.arange(n_teams) % n_units
    team_dept: list[int] = []
    for t in range(n_teams):
        k = int((team_unit[:t] == team_unit[t]).sum())  # teams of this unit so far
        team_dept.append(k % len(UNITS[team_unit[t]][1]))
    depts = sorted({(int(team_unit[t]), team_dept[t]) for t in range(n_teams)})
    with_directors = n >= 150

    role: list[str] = [""] * n
    fu = [""] * n
    dep = [""] * n
    tm = [""] * n
    team_id = np.full(n, -1)
    sup = np.full(n, -1)
    nxt = 0
    role[0] = "President"
    nxt = 1
    vp_of: dict[int, int] = {}
    if with_vps:
        for u in range(n_units):
            vp_of[u] = nxt
            role[nxt], sup[nxt], fu[nxt] = "VicePresident", 0, f"{u + 1} - {UNITS[u][0]}"
            nxt += 1
    dir_of: dict[tuple[int, int], int] = {}
    if with_directors:
        for u, d in depts:
            dir_of[(u, d)] = nxt
            role[nxt], sup[nxt] = "Director", vp_of.get(u, 0)
            fu[nxt], dep[nxt] = f"{u + 1} - {UNITS[u][0]}", f"{d + 1} - {UNITS[u][1][d]}"
            nxt += 1
    mgr_of: dict[int, int] = {}
    for t in range(n_teams):
        u, d = int(team_unit[t]), team_dept[t]
        mgr_of[t] = nxt
        role[nxt] = "Manager"
        sup[nxt] = dir_of.get((u, d), vp_of.get(u, 0))
        fu[nxt], dep[nxt] = f"{u + 1} - {UNITS[u][0]}", f"{d + 1} - {UNITS[u][1][d]}"
        tm[nxt], team_id[nxt] = f"{t + 1} - Team{t + 1}", t
        nxt += 1
    if nxt >= n:
        raise ValueError(f"--users {n} is too small for the organisation chart")
    staff = np.arange(nxt, n)
    staff_team = np.sort(rng.integers(0, n_teams, len(staff)))
    staff_team[:n_teams] = np.arange(n_teams)[: len(staff)]  # every team has someone
    it_unit = 0
    for i, t in zip(staff.tolist(), staff_team.tolist()):
        u, d = int(team_unit[t]), team_dept[t]
        roles, weights = zip(*UNITS[u][2])
        role[i] = str(rng.choice(roles, p=np.array(weights) / sum(weights)))
        sup[i] = mgr_of[int(t)]
        fu[i], dep[i] = f"{u + 1} - {UNITS[u][0]}", f"{d + 1} - {UNITS[u][1][d]}"
        tm[i], team_id[i] = f"{t + 1} - Team{t + 1}", int(t)
    # Executives' assistants have no team, like in CERT (empty team for some rows).
    for i in staff[rng.random(len(staff)) < 0.03]:
        tm[i] = ""
    # Enough IT administrators for the keylogger scenario and for normal PC-hopping.
    admins = [i for i in range(n) if role[i] == "ITAdmin"]
    it_staff = [i for i in staff.tolist() if team_unit[team_id[i]] == it_unit and role[i] != "ITAdmin"]
    need = max(2, n // 25)
    while len(admins) < need and it_staff:
        i = it_staff.pop()
        role[i] = "ITAdmin"
        admins.append(i)

    if release == "r4.2":
        business_unit = ["1"] * n
        projects = [""] * n
    else:
        business_unit = [f"{1 + (i % 2)} - Executive" for i in range(n)]
        business_unit[0] = ""
        n_proj = max(3, n // 60)
        projects = [f"Project {int(rng.integers(1, n_proj + 1))}" if rng.random() < 0.2 else "" for _ in range(n)]

    # --- PCs ------------------------------------------------------------------------------------
    n_shared = max(3, n // 10)  # CERT: 100 shared machines for 1,000 users (r4/r5)
    pcs = rng.choice(10000, n + n_shared, replace=False)
    own_pc, shared_pcs = pcs[:n], pcs[n:]

    # --- personality (integer Big-5, 10..50) ----------------------------------------------------
    psych = np.clip(np.rint(rng.normal(30, 9, (n, 5))), 10, 50).astype(int)
    psych[:, 4] = np.clip(psych[:, 4], 12, 50)

    # --- leavers: r4.2 loses 155 of 1,000 in 17 months, about 0.9 % a month ----------------------
    months = n_days / 30.4
    p_leave = 1 - (1 - 0.009) ** months
    leave_day = np.full(n, n_days)
    leaving = rng.random(n) < p_leave
    leaving[0] = False
    leave_day[leaving] = rng.integers(max(1, n_days // 10), n_days, leaving.sum())

    # --- habits -----------------------------------------------------------------------------------
    # first logon of the day: mean 7.9 h (users' means spread 1 h); last logoff: mean 17.8 h.
    start_h = np.clip(rng.normal(7.9, 0.9, n), 5.5, 10.5)
    end_h = np.clip(start_h + rng.normal(9.85, 1.0, n), start_h + 5, 22.0)
    jitter_h = np.where(rng.random(n) < 0.05, rng.uniform(0.8, 2.5, n), rng.lognormal(np.log(0.12), 0.3, n))
    work_h = end_h - start_h
    # r4.2 totals: 28.4 M http, 2.6 M email for ~1,000 users over ~355 working days.
    http_per_h = rng.lognormal(np.log(80.0), 0.55, n) / work_h
    email_per_h = rng.lognormal(np.log(7.0), 0.6, n) / work_h
    # removable media: 265 of 1,000 users; median connects/day about 2, a few 7-9
    device_users = rng.random(n) < 0.25
    device_per_h = np.where(device_users, rng.lognormal(np.log(1.8), 0.8, n).clip(0.2, 9) / work_h, 0.0)
    files_per_connect = rng.lognormal(np.log(1.8), 0.5, n)
    local_files_per_h = np.where(rng.random(n) < 0.3, rng.lognormal(np.log(0.8), 0.6, n) / work_h, 0.0)
    # 12 % stay late or come back at night; 6 % work weekends (CERT: ~50 of 1,000 on a weekend day)
    evening_p = np.where(rng.random(n) < 0.12, rng.uniform(0.1, 0.5, n), 0.0)
    weekend_p = np.where(rng.random(n) < 0.06, rng.uniform(0.3, 0.8, n), 0.0)
    roam_per_day = np.where(rng.random(n) < 0.08, rng.uniform(0.1, 0.4, n), 0.02)
    is_admin = np.array([r == "ITAdmin" for r in role])
    roam_per_day[is_admin] = rng.uniform(1.5, 4.0, is_admin.sum())
    evening_p[is_admin] = np.maximum(evening_p[is_admin], rng.uniform(0.2, 0.5, is_admin.sum()))
    # r4.2: 1.43 Logon and 1.12 Logoff per user-day
    # (roaming, evening and lock sessions add pairs; unlocks add lone Logons)
    lock_per_day = rng.gamma(1.0, 0.06, n)
    unlock_per_day = rng.gamma(1.5, 0.17, n)
    jobsite_p = np.where(rng.random(n) < 0.1, rng.uniform(0.005, 0.03, n), 0.0)

    n_urls = 4096
    k_fav = 30
    fav_urls = rng.integers(0, n_urls, (n, k_fav))
    n_contacts = max(200, 2 * n)
    external = []
    for _ in range(n_contacts):
        f, last = rng.choice(vocab.FIRST_NAMES), rng.choice(vocab.LAST_NAMES)
        pool = tuple(vocab.PERSONAL_DOMAINS) + vocab.COMPETITOR_DOMAINS * 2
        dom = pool[int(rng.integers(len(pool)))]
        external.append(f"{f}_{last}@{dom}" if rng.random() < 0.5 else f"{last}-{f}@{dom}")
    contacts = rng.integers(0, n_contacts, (n, 15))
    file_tree = []
    for uid in user_ids:
        dirs = ["R:\\"] + [f"R:\\{_token(rng, 7)}" for _ in range(int(rng.integers(0, 3)))] + [f"R:\\{uid}"]
        file_tree.append(";".join(dirs))

    # --- calendar: weekends, holidays, vacations ----------------------------------------------
    holidays: set[dt.date] = set()
    for y in {d.year for d in days}:
        holidays |= us_holidays(y)
    off = np.array([d.weekday() >= 5 or d in holidays for d in days])
    present = np.repeat(~off[None, :], n, axis=0)
    years = max(1.0, n_days / 365)
    for i in range(n):
        for _ in range(rng.poisson(2 * years)):
            a = int(rng.integers(0, n_days))
            present[i, a : a + int(rng.integers(3, 9))] = False
    return Org(
        release=release,
        days=days,
        user_ids=user_ids,
        names=names,
        emails=emails,
        personal_emails=personal,
        role=role,
        projects=projects,
        business_unit=business_unit,
        functional_unit=fu,
        department=dep,
        team=tm,
        team_id=team_id,
        supervisor=sup,
        pc=own_pc,
        shared_pcs=shared_pcs,
        leave_day=leave_day,
        psych=psych,
        start_h=start_h,
        end_h=end_h,
        jitter_h=jitter_h,
        http_per_h=http_per_h,
        email_per_h=email_per_h,
        device_per_h=device_per_h,
        files_per_connect=files_per_connect,
        local_files_per_h=local_files_per_h,
        evening_p=evening_p,
        weekend_p=weekend_p,
        roam_per_day=roam_per_day,
        lock_per_day=lock_per_day,
        unlock_per_day=unlock_per_day,
        jobsite_p=jobsite_p,
        fav_urls=fav_urls,
        contacts=contacts,
        file_tree=file_tree,
        present=present,
        weekend_or_holiday=off,
        external_contacts=external,
    )


_ALNUM = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", dtype=np.uint8)


def _token(rng: np.random.Generator, k: int) -> str:
    return bytes(_ALNUM[rng.integers(0, 36, k)]).decode()


def ldap_rows(org: Org, month_end_day: int) -> list[int]:
    """People in the snapshot of the month whose last day index is month_end_day.

    A person who leaves during a month is in the previous snapshot but not in that month's.
    """
    last = min(month_end_day, len(org.days) - 1)
    return [i for i in range(org.n) if org.leave_day[i] > last]
