"""Train / validation / test periods: release defaults, fallback for short spans, overrides."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from neighborwatch.sequences.splits import assign_splits, month_before, split_dates, to_epoch_us

R4_SPAN = (datetime(2010, 1, 2, 6, 49), datetime(2011, 5, 17, 3, 12))


@pytest.mark.parametrize(
    "release,val,test",
    [
        ("r4.2", datetime(2010, 12, 1), datetime(2011, 1, 1)),
        ("r5.2", datetime(2010, 12, 1), datetime(2011, 1, 1)),
        ("r6.2", datetime(2011, 2, 1), datetime(2011, 3, 1)),
        ("r6.1", datetime(2011, 2, 1), datetime(2011, 3, 1)),
    ],
)
def test_release_defaults(release: str, val: datetime, test: datetime) -> None:
    d = split_dates(release, *R4_SPAN)
    assert (d.val_start, d.test_start, d.rule) == (val, test, "release")


def test_month_before_crosses_year() -> None:
    assert month_before(datetime(2011, 1, 1)) == datetime(2010, 12, 1)
    assert month_before(datetime(2011, 3, 15, 12)) == datetime(2011, 2, 1)


@pytest.mark.parametrize("release", ["r4.2", None, "own-logs"])
def test_fallback_when_span_misses_the_cut(release: str | None) -> None:
    start, end = datetime(2010, 1, 2, 7), datetime(2010, 7, 1, 18)  # synthetic 6 months, before any cut
    d = split_dates(release, start, end)
    assert d.rule == "fallback"
    cut = start + (end - start) * 0.75
    assert d.test_start.time() == datetime.min.time()  # midnight
    assert cut - (end - start) / 180 <= d.test_start <= cut  # within a day before 75 %
    assert (d.test_start - d.val_start).days == 30


def test_fallback_on_a_short_span_keeps_a_training_period() -> None:
    start, end = datetime(2010, 1, 1), datetime(2010, 1, 21)
    d = split_dates(None, start, end)
    assert start < d.val_start < d.test_start < end
    assert d.test_start == datetime(2010, 1, 16)


def test_span_ending_before_test_cut_falls_back_even_for_cert() -> None:
    d = split_dates("r4.2", datetime(2010, 1, 1), datetime(2010, 12, 20))
    assert d.rule == "fallback" and d.test_start < datetime(2010, 12, 20)


def test_overrides() -> None:
    d = split_dates("r4.2", *R4_SPAN, test_start="2011-02-01")
    assert (d.val_start, d.test_start, d.rule) == (datetime(2011, 1, 1), datetime(2011, 2, 1), "override")
    d = split_dates("r4.2", *R4_SPAN, val_start="2010-10-15", test_start="2011-02-01")
    assert d.val_start == datetime(2010, 10, 15)
    d = split_dates("r4.2", *R4_SPAN, val_start="2010-11-01")
    assert (d.val_start, d.test_start, d.rule) == (datetime(2010, 11, 1), datetime(2011, 1, 1), "override")
    with pytest.raises(ValueError, match="before test start"):
        split_dates("r4.2", *R4_SPAN, val_start="2011-02-01", test_start="2011-01-01")
    with pytest.raises(ValueError, match="not a date"):
        split_dates("r4.2", *R4_SPAN, test_start="soon")


def test_assign_by_first_event_time_boundaries_inclusive_at_start() -> None:
    d = split_dates("r4.2", *R4_SPAN)
    times = [
        datetime(2010, 11, 30, 23, 59, 59),
        datetime(2010, 12, 1),
        datetime(2010, 12, 31, 23, 59),
        datetime(2011, 1, 1),
        datetime(2011, 4, 1),
    ]
    got = assign_splits(np.array([to_epoch_us(t) for t in times]), d)
    assert got.tolist() == ["train", "validation", "validation", "test", "test"]


def test_validation_users_hold_out_a_third_of_each_scenarios_insiders() -> None:
    from neighborwatch.sequences.splits import validation_users

    users = [f"U{i:03d}" for i in range(100)]
    strata = {f"U{i:03d}": 1 + i % 3 for i in range(0, 30, 2)}  # 15 insiders, 5 per scenario
    held = validation_users(users, strata, share=0.2, seed=7)
    assert held == validation_users(users, strata, share=0.2, seed=7)  # seeded
    assert held != validation_users(users, strata, share=0.2, seed=8)
    for sc in (1, 2, 3):
        mine = {u for u, s in strata.items() if s == sc}
        assert len(held & mine) == 2  # ceil(5 / 3)
    assert len(held - set(strata)) == round(0.2 * 85)


def test_fallback_cuts_follow_the_events_of_a_log_with_a_gap() -> None:
    from neighborwatch.sequences.splits import assign_splits, check_splits, split_dates, to_epoch_us

    # three busy weeks, a silent month, then two busy days: time-based cuts would land in the gap
    days = [datetime(2024, 3, 4) + timedelta(days=d, hours=9) for d in range(21)]
    days += [datetime(2024, 5, 6, 9), datetime(2024, 5, 7, 9)]
    times = np.array([to_epoch_us(d + timedelta(minutes=m)) for d in days for m in range(0, 300, 30)])
    dates = split_dates(None, days[0], days[-1] + timedelta(hours=5), times_us=times)
    split = assign_splits(times, dates)
    assert {str(x) for x in split} == {"train", "validation", "test"}
    check_splits(split, dates, "period")
    with pytest.raises(ValueError, match="--test-start"):
        check_splits(np.array(["train", "test"]), dates, "users")
