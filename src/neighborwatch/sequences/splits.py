"""Train / validation / test periods, assigned by each sequence's first event (LAN.md §2.7).

Why a validation period: the reference picks its best epoch, early stopping and alert threshold
on the test set. We carve the calendar month before the test cut out of the training period and
use it for every selection, so the test period is touched once.

Defaults:
* CERT r4.x / r5.x: test from 2011-01-01, r6.x: test from 2011-03-01 (the paper's cuts);
  validation = the calendar month before the test start.
* When the data does not cover the default cut (a short synthetic period, own logs, an unknown
  release): test = the last 25 % of the time span, cut at midnight; validation = the 30 days
  before it (or, when 30 days would leave no training period, the second half of what precedes
  the test start, cut at midnight).
Both dates can be overridden (`val_start`, `test_start`: "YYYY-MM-DD" or an ISO datetime); an
override of only the test start moves validation to the calendar month before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

SPLITS = ("train", "validation", "test")
DEFAULT_TEST_START = {"r4": datetime(2011, 1, 1), "r5": datetime(2011, 1, 1), "r6": datetime(2011, 3, 1)}
FALLBACK_TEST_SHARE = 0.25
FALLBACK_VALIDATION_DAYS = 30


@dataclass(frozen=True)
class SplitDates:
    val_start: datetime
    test_start: datetime
    rule: str  # 'release', 'fallback' or 'override': where the dates came from

    def to_json(self) -> dict[str, str]:
        return {"val_start": self.val_start.isoformat(), "test_start": self.test_start.isoformat(),
                "rule": self.rule}

    @classmethod
    def from_json(cls, obj: dict[str, str]) -> "SplitDates":
        return cls(datetime.fromisoformat(obj["val_start"]), datetime.fromisoformat(obj["test_start"]),
                   obj.get("rule", "override"))


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


def fallback_dates(span_start: datetime, span_end: datetime) -> tuple[datetime, datetime]:
    """Test = last 25 % of the span (cut at midnight), validation = the 30 days before it."""
    if span_end <= span_start:
        raise ValueError(f"cannot split an empty time span ({span_start} .. {span_end})")
    test = _midnight(span_start + (span_end - span_start) * (1 - FALLBACK_TEST_SHARE))
    if test <= span_start:  # span shorter than ~a day: cut inside it
        test = span_start + (span_end - span_start) * (1 - FALLBACK_TEST_SHARE)
    val = test - timedelta(days=FALLBACK_VALIDATION_DAYS)
    if val <= span_start:
        val = _midnight(span_start + (test - span_start) / 2)
        if val <= span_start:
            val = span_start + (test - span_start) / 2
    return val, test


def split_dates(
    release: str | None,
    span_start: datetime,
    span_end: datetime,
    val_start: str | date | datetime | None = None,
    test_start: str | date | datetime | None = None,
) -> SplitDates:
    """The validation and test start for data spanning `span_start`..`span_end`."""
    if test_start is not None:
        test = parse_date(test_start)
        val = parse_date(val_start) if val_start is not None else month_before(test)
        rule = "override"
    else:
        test_default = release_test_start(release)
        val_default = month_before(test_default) if test_default else None
        covered = test_default is not None and span_start < val_default < test_default < span_end  # type: ignore[operator]
        if covered:
            test, val, rule = test_default, val_default, "release"
        else:
            val, test = fallback_dates(span_start, span_end)
            rule = "fallback"
        if val_start is not None:
            val, rule = parse_date(val_start), "override"
    if not val < test:  # type: ignore[operator]
        raise ValueError(f"validation start {val} must be before test start {test}")
    return SplitDates(val_start=val, test_start=test, rule=rule)  # type: ignore[arg-type]


def to_epoch_us(d: datetime) -> int:
    return int(np.datetime64(d, "us").astype(np.int64))


def assign_splits(start_us: np.ndarray, dates: SplitDates) -> np.ndarray:
    """'train' | 'validation' | 'test' per sequence from its first event time (epoch µs)."""
    start_us = np.asarray(start_us, dtype=np.int64)
    idx = (start_us >= to_epoch_us(dates.val_start)).astype(np.int8) + (
        start_us >= to_epoch_us(dates.test_start)
    ).astype(np.int8)
    return np.asarray(SPLITS, dtype=object)[idx]
