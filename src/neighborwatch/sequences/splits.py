"""Train / validation / test, assigned by each sequence's first event (LAN.md §2.7, issue 8 §2).

Why a validation set: the reference picks its best epoch, early stopping and alert threshold on
the test set. We select on validation only, so the test period is touched once.

Two validation rules (`VALIDATION_RULES`):
* ``users`` (default): a seeded share of the users (`VALIDATION_USER_SHARE`) is held out over
  the WHOLE period before the test cut: their sequences before the cut are validation and are not
  trained on. One calendar month often holds one scenario or none; users held out over the whole
  training period bring insiders of several scenarios. Stratified: insiders with a malicious
  event before the test cut are drawn per scenario, at least a third of each scenario's insiders
  (rounded up); everybody else at the share. Labels decide this stratification ONLY — never a
  token, a session or a time — and the held-out set is recorded in `sequences/config.json`.
  Without labels it is a plain seeded share of users.
  Under this rule the other users' sequences in the validation period [val_start, test_start)
  form the **calibration** split: not trained on and never labelled for anything.
* The **calibration window** (`calibration_ids`): every user's sequences in [val_start,
  test_start) that are not trained on — the calibration split and the held-out users' validation
  sequences of those days. The alert thresholds are set on it (`evaluation.alerting`), without
  labels. It is what the test period is: the users the model knows, on days it has not seen, next
  to the held-out users it has never seen (a fifth of the users in the test period too). Held-out
  users alone look more surprising (on the dev orgs their mean surprisal is 1.4-1.8x the test
  period's), so thresholds set on them missed the analyst's budget by a factor of 1.6-2; the
  known users alone miss it the other way (extreme scores of the unseen users are missing).
* ``period``: the calendar month before the test cut (the earlier rule), for comparison (there
  validation itself is seen users on unseen days and also calibrates).
The test period (from the test cut on, every user) is the same under both rules.

Defaults:
* CERT r4.x / r5.x: test from 2011-01-01, r6.x: test from 2011-03-01 (the paper's cuts);
  validation = the calendar month before the test start.
* When the data does not cover the default cut (a short synthetic period, own logs, an unknown
  release): cuts follow the EVENTS, not the clock, so that a log with gaps or a busy tail still
  gets activity in every split: test = from the midnight before the event at 75 % of the events;
  validation period = the 30 days before it, moved later to the event at 50 % when those 30 days
  would take more of the training events (or hold none). When a split still holds no event
  (`check_splits`), preparing fails with a message that names the options.
Both dates can be overridden (`val_start`, `test_start`: "YYYY-MM-DD" or an ISO datetime); an
override of only the test start moves validation to the calendar month before it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import numpy as np

SPLITS = ("train", "calibration", "validation", "test")
REQUIRED_SPLITS = ("train", "validation", "test")  # calibration exists under the users rule only
VALIDATION_RULES = ("users", "period")
VALIDATION_USER_SHARE = 0.2
MIN_INSIDER_SHARE = 1 / 3  # of each scenario's insiders active before the test cut
DEFAULT_SPLIT_SEED = 42
DEFAULT_TEST_START = {"r4": datetime(2011, 1, 1), "r5": datetime(2011, 1, 1), "r6": datetime(2011, 3, 1)}
FALLBACK_TEST_SHARE = 0.25
FALLBACK_VALIDATION_DAYS = 30


@dataclass(frozen=True)
class SplitDates:
    val_start: datetime
    test_start: datetime
    rule: str  # 'release', 'fallback' or 'override': where the dates came from

    def to_json(self) -> dict[str, str]:
        return {"val_start": self.val_start.isoformat(), "test_start": self.test_start.isoformat(), "rule": self.rule}

    @classmethod
    def from_json(cls, obj: dict[str, str]) -> SplitDates:
        return cls(
            datetime.fromisoformat(obj["val_start"]),
            datetime.fromisoformat(obj["test_start"]),
            obj.get("rule", "override"),
        )


def parse_date(value: str | date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    try:
        return datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"not a date: {value!r} (expected YYYY-MM-DD or an ISO datetime)") from None


def month_before(d: datetime) -> datetime:
    """Midnight on the first day of the calendar month before the one `d` is in."""
    return datetime(d.year - 1, 12, 1) if d.month == 1 else datetime(d.year, d.month - 1, 1)


def _midnight(d: datetime) -> datetime:
    return datetime(d.year, d.month, d.day)


def release_test_start(release: str | None) -> datetime | None:
    """The paper's test cut for a CERT release name like 'r4.2', or None if it has none."""
    if not release:
        return None
    return DEFAULT_TEST_START.get(str(release).strip().lower()[:2])


def _cut(at: datetime, floor: datetime) -> datetime:
    """`at` moved back to midnight, unless that is not after `floor` (then `at` itself)."""
    m = _midnight(at)
    return m if m > floor else at


def fallback_dates(
    span_start: datetime, span_end: datetime, times_us: np.ndarray | None = None
) -> tuple[datetime, datetime]:
    """(validation start, test start) for data without a release cut.

    With the event times: test from the midnight before the event at 75 % of the events, validation
    from 30 days before that, but no earlier than the event at 50 % (so training keeps at least
    half of the events before the test cut) and no later than that event if the 30 days hold no
    event. Without them the same fractions of the time span are used.
    """
    if span_end <= span_start:
        raise ValueError(f"cannot split an empty time span ({span_start} .. {span_end})")
    if times_us is None or len(times_us) == 0:
        quantile = lambda q: span_start + (span_end - span_start) * q  # noqa: E731
    else:
        t = np.sort(np.asarray(times_us, dtype=np.int64))
        quantile = lambda q: from_epoch_us(int(t[min(len(t) - 1, int(q * len(t)))]))  # noqa: E731
    test = _cut(quantile(1 - FALLBACK_TEST_SHARE), span_start)
    if test <= span_start:
        test = span_start + (span_end - span_start) * (1 - FALLBACK_TEST_SHARE)
    half = _cut(quantile((1 - FALLBACK_TEST_SHARE) / 2), span_start)
    val = max(test - timedelta(days=FALLBACK_VALIDATION_DAYS), half)
    if times_us is not None and len(times_us):
        t = np.asarray(times_us, dtype=np.int64)
        if not ((t >= to_epoch_us(val)) & (t < to_epoch_us(test))).any():
            val = half
    if not span_start < val < test:
        val = span_start + (test - span_start) / 2
    return val, test


def split_dates(
    release: str | None,
    span_start: datetime,
    span_end: datetime,
    val_start: str | date | datetime | None = None,
    test_start: str | date | datetime | None = None,
    times_us: np.ndarray | None = None,
) -> SplitDates:
    """The validation and test start for data spanning `span_start`..`span_end` (`times_us`:
    the event times, so that fallback cuts follow the events)."""
    if test_start is not None:
        test = parse_date(test_start)
        val = parse_date(val_start) if val_start is not None else month_before(test)
        rule = "override"
    else:
        test_default = release_test_start(release)
        val_default = month_before(test_default) if test_default else None
        if test_default is not None and val_default is not None and span_start < val_default < test_default < span_end:
            test, val, rule = test_default, val_default, "release"
        else:
            val, test = fallback_dates(span_start, span_end, times_us)
            rule = "fallback"
        if val_start is not None:
            val, rule = parse_date(val_start), "override"
    if not val < test:  # type: ignore[operator]
        raise ValueError(f"validation start {val} must be before test start {test}")
    return SplitDates(val_start=val, test_start=test, rule=rule)  # type: ignore[arg-type]


def with_calibration_floor(dates: SplitDates, span_start: datetime) -> SplitDates:
    """Under the users rule [val_start, test_start) is the calibration window of the other users:
    moved later where it would take more than half of their time before the test cut (a short log,
    or an override of the test start only), so that training keeps the larger part."""
    floor = span_start + (dates.test_start - span_start) / 2
    return dates if dates.val_start >= floor else replace(dates, val_start=_cut(floor, span_start))


def to_epoch_us(d: datetime) -> int:
    return int(np.datetime64(d, "us").astype(np.int64))


def from_epoch_us(us: int) -> datetime:
    return np.datetime64(int(us), "us").astype(datetime)


def validation_users(
    users: Sequence[str],
    strata: Mapping[str, int] | None = None,
    share: float = VALIDATION_USER_SHARE,
    seed: int = DEFAULT_SPLIT_SEED,
) -> set[str]:
    """The users held out for validation: per stratum a seeded draw without replacement.

    `strata` maps an insider to a scenario number (insiders active before the test cut; the
    only place labels enter, and only to stratify); everyone else is stratum 0. Stratum 0 gives
    round(share × n) users, each scenario ceil(max(share, 1/3) × n), at least one.
    """
    if not 0.0 < share < 1.0:
        raise ValueError(f"validation user share must lie in (0, 1), got {share}")
    strata = dict(strata or {})
    groups: dict[int, list[str]] = {}
    for u in sorted(set(users)):
        groups.setdefault(int(strata.get(u, 0)), []).append(u)
    rng = np.random.default_rng(seed)
    out: set[str] = set()
    for stratum in sorted(groups):
        members = groups[stratum]
        k = round(share * len(members)) if stratum == 0 else math.ceil(max(share, MIN_INSIDER_SHARE) * len(members))
        out.update(members[i] for i in rng.choice(len(members), size=min(k, len(members)), replace=False))
    return out


def assign_splits(
    start_us: np.ndarray, dates: SplitDates, users: np.ndarray | None = None, held_out: set[str] | None = None
) -> np.ndarray:
    """'train' | 'calibration' | 'validation' | 'test' per sequence from its first event time (µs).

    With `held_out` users (rule ``users``): before the test cut their sequences are validation,
    everyone else's are calibration in [val_start, test_start) and train before; without, the
    validation period [val_start, test_start) is validation.
    """
    start_us = np.asarray(start_us, dtype=np.int64)
    test = start_us >= to_epoch_us(dates.test_start)
    late = start_us >= to_epoch_us(dates.val_start)
    if held_out is None:
        val, cal = late, np.zeros(start_us.size, dtype=bool)
    else:
        if users is None:
            raise ValueError("held-out validation users need the user of every sequence")
        val = np.isin(np.asarray(users, dtype=object).astype(str), sorted(held_out))
        cal = late & ~val
    idx = np.where(test, 3, np.where(val, 2, np.where(cal, 1, 0)))
    return np.asarray(SPLITS, dtype=object)[idx]


def calibration_ids(split: np.ndarray, start_us: np.ndarray, dates: SplitDates) -> np.ndarray:
    """Ids of the sequences in the calibration window (see the module doc)."""
    split = np.asarray(split, dtype=object)
    start_us = np.asarray(start_us, dtype=np.int64)
    untrained = (split == "calibration") | (split == "validation")
    late = (start_us >= to_epoch_us(dates.val_start)) & (start_us < to_epoch_us(dates.test_start))
    return np.flatnonzero(untrained & late)


def check_splits(
    split: np.ndarray, dates: SplitDates, rule: str, span: tuple[datetime, datetime] | None = None
) -> None:
    """Every split must hold a sequence; otherwise say why and name the options."""
    missing = [name for name in REQUIRED_SPLITS if not (np.asarray(split) == name).any()]
    if not missing:
        return
    logged = f"the logs span {span[0]:%Y-%m-%d %H:%M} .. {span[1]:%Y-%m-%d %H:%M}; " if span else ""
    where = (
        f"validation = held-out users, test from {dates.test_start:%Y-%m-%d %H:%M}"
        if rule == "users"
        else f"validation from {dates.val_start:%Y-%m-%d %H:%M}, test from {dates.test_start:%Y-%m-%d %H:%M}"
    )
    options = ["--test-start (and --val-start) inside the logged period"]
    if rule == "users":
        options.append("--validation period")
    options.append("a longer log span (a few weeks or more)")
    raise ValueError(
        f"the {' and '.join(missing)} split(s) would hold no sequence ({where}, {dates.rule} "
        f"rule); {logged}options: " + ", or ".join(options)
    )
