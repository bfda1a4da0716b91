"""Sessionization and user-day edge cases on hand-written events (LAN.md §2.5)."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from neighborwatch.data.schema import conform_events
from neighborwatch.sequences.sessionize import (
    SessionRule,
    closed_by_logoff,
    default_rule,
    length_distribution,
    make_rule,
    normalize_action,
    sessions,
    user_days,
)

T0 = datetime(2010, 1, 4, 8, 0)

ACTIONS = {
    "on": ("logon", "Logon"),
    "off": ("logon", "Logoff"),
    "con": ("device", "Connect"),
    "dis": ("device", "Disconnect"),
    "file": ("file", "File Open"),
    "mail": ("email", "Send"),
    "web": ("http", "WWW Visit"),
}


def events(rows: list[tuple[int, str, str, str]]) -> pl.DataFrame:
    """rows: (minute offset from T0, user, host, short action); row i = event row i."""
    return _frame(rows, [ACTIONS[a][0] for *_, a in rows], [ACTIONS[a][1] for *_, a in rows])


def _frame(rows: list, sources: list[str], actions: list[str]) -> pl.DataFrame:
    return conform_events(
        pl.DataFrame(
            {
                "event_id": [f"e{i}" for i in range(len(rows))],
                "time": [T0 + timedelta(minutes=m) for m, *_ in rows],
                "user": [u for _, u, _, _ in rows],
                "host": [h for _, _, h, _ in rows],
                "source": sources,
                "action": actions,
            }
        )
    )


def groups(ev: pl.DataFrame, fn=sessions) -> list[list[int]]:
    g = fn(ev)
    return [g.rows[g.offsets[s] : g.offsets[s + 1]].tolist() for s in range(len(g))]


def test_logon_logoff_pairs_make_one_session_each() -> None:
    ev = events(
        [
            (0, "A", "P1", "on"),
            (1, "A", "P1", "web"),
            (2, "A", "P1", "off"),
            (60, "A", "P1", "on"),
            (61, "A", "P1", "mail"),
            (62, "A", "P1", "off"),
        ]
    )
    assert groups(ev) == [[0, 1, 2], [3, 4, 5]]
    assert closed_by_logoff(ev, sessions(ev)).tolist() == [True, True]


def test_two_pcs_interleaved_are_separate_sessions() -> None:
    ev = events(
        [
            (0, "A", "P1", "on"),
            (1, "A", "P2", "on"),
            (2, "A", "P1", "web"),
            (3, "A", "P2", "file"),
            (4, "A", "P1", "off"),
            (5, "A", "P2", "off"),
        ]
    )
    assert groups(ev) == [[0, 2, 4], [1, 3, 5]]


def test_other_users_logon_on_same_pc_does_not_split_a_session() -> None:
    ev = events([(0, "A", "P1", "on"), (1, "B", "P1", "on"), (2, "A", "P1", "web"), (3, "A", "P1", "off")])
    assert groups(ev) == [[0, 2, 3], [1]]


def test_events_before_any_logon_open_a_session() -> None:
    ev = events([(0, "A", "P1", "web"), (1, "A", "P1", "file"), (2, "A", "P1", "on"), (3, "A", "P1", "mail")])
    assert groups(ev) == [[0, 1], [2, 3]]


def test_logon_without_logoff_is_closed_by_next_logon() -> None:
    ev = events([(0, "A", "P1", "on"), (1, "A", "P1", "web"), (30, "A", "P1", "on"), (31, "A", "P1", "off")])
    assert groups(ev) == [[0, 1], [2, 3]]
    assert closed_by_logoff(ev, sessions(ev)).tolist() == [False, True]


def test_events_after_logoff_open_a_new_session() -> None:
    ev = events(
        [
            (0, "A", "P1", "on"),
            (1, "A", "P1", "off"),
            (2, "A", "P1", "con"),
            (3, "A", "P1", "dis"),
            (4, "A", "P1", "on"),
        ]
    )
    assert groups(ev) == [[0, 1], [2, 3], [4]]


def test_session_unclosed_at_end_of_log_is_kept() -> None:
    ev = events([(0, "A", "P1", "on"), (1, "A", "P1", "off"), (5, "A", "P1", "on"), (6, "A", "P1", "web")])
    g = sessions(ev)
    assert groups(ev) == [[0, 1], [2, 3]]
    assert closed_by_logoff(ev, g).tolist() == [True, False]
    assert g.offsets[-1] == ev.height  # no event lost


def test_consecutive_logoffs_each_close_what_is_open() -> None:
    ev = events([(0, "A", "P1", "on"), (1, "A", "P1", "off"), (2, "A", "P1", "off")])
    assert groups(ev) == [[0, 1], [2]]


def test_same_timestamp_keeps_event_row_order() -> None:
    # all at the same minute: the order of events.parquet (event row) decides
    ev = events([(0, "A", "P1", "on"), (0, "A", "P1", "web"), (0, "A", "P1", "off"), (0, "A", "P1", "mail")])
    assert groups(ev) == [[0, 1, 2], [3]]
    ev = events([(0, "A", "P1", "web"), (0, "A", "P1", "on"), (0, "A", "P1", "file")])
    assert groups(ev) == [[0], [1, 2]]


def test_input_order_does_not_need_to_be_grouped() -> None:
    """Rows come sorted by time across users; sessions must still gather each user's events."""
    rows = [
        (0, "A", "P1", "on"),
        (0, "B", "P2", "on"),
        (1, "B", "P2", "web"),
        (2, "A", "P1", "file"),
        (3, "B", "P2", "off"),
        (4, "A", "P1", "off"),
        (5, "B", "P2", "mail"),
    ]
    assert groups(events(rows)) == [[0, 3, 5], [1, 2, 4], [6]]


def test_unsorted_input_is_ordered_by_time_then_row() -> None:
    ev = events([(5, "A", "P1", "web"), (0, "A", "P1", "on"), (5, "A", "P1", "off"), (9, "A", "P1", "mail")])
    assert groups(ev) == [[1, 0, 2], [3]]
    assert groups(ev, user_days) == [[1, 0, 2, 3]]


def test_sequences_are_numbered_by_first_event() -> None:
    ev = events([(0, "Z", "P9", "on"), (1, "A", "P1", "on"), (2, "Z", "P9", "off"), (3, "A", "P1", "off")])
    g = sessions(ev)
    assert g.first_rows.tolist() == [0, 1]
    times = ev["time"].cast(pl.Int64).to_numpy()
    assert np.all(np.diff(times[g.first_rows]) >= 0)


def test_null_host_is_its_own_pc() -> None:
    ev = events([(0, "A", "P1", "on"), (1, "A", "P1", "web")]).vstack(
        events([(2, "A", "P1", "web")]).with_columns(pl.lit(None, dtype=pl.Utf8).alias("host"))
    )
    assert groups(ev) == [[0, 1], [2]]


def test_every_event_in_exactly_one_session_on_random_log() -> None:
    rng = np.random.default_rng(3)
    acts = list(ACTIONS)
    rows = sorted(
        (int(rng.integers(0, 500)), f"U{rng.integers(3)}", f"P{rng.integers(3)}", str(rng.choice(acts)))
        for _ in range(400)
    )
    ev = events(rows)
    g = sessions(ev)
    assert sorted(g.rows.tolist()) == list(range(ev.height))
    user = ev["user"].to_numpy()
    host = ev["host"].to_numpy()
    src, act = ev["source"].to_numpy(), ev["action"].to_numpy()
    for s in range(len(g)):
        r = g.rows[g.offsets[s] : g.offsets[s + 1]]
        assert len(set(user[r])) == 1 and len(set(host[r])) == 1
        logon = (src[r] == "logon") & (act[r] == "Logon")
        logoff = (src[r] == "logon") & (act[r] == "Logoff")
        assert not logon[1:].any(), "a Logon can only open a session"
        assert not logoff[:-1].any(), "a Logoff can only close a session"
        assert np.all(np.diff(r) > 0), "events in (time, row) order"


def test_user_days_cross_pcs_and_split_at_midnight() -> None:
    ev = events(
        [
            (0, "A", "P1", "on"),
            (1, "A", "P2", "web"),
            (2, "B", "P1", "on"),
            (15 * 60, "A", "P1", "file"),
            (16 * 60 + 30, "A", "P1", "mail"),
        ]
    )  # 23:00, 00:30 next day
    assert groups(ev, user_days) == [[0, 1, 3], [2], [4]]


def test_missing_columns_and_null_times_are_clear_errors() -> None:
    ev = events([(0, "A", "P1", "on")])
    with pytest.raises(ValueError, match="lack columns"):
        sessions(ev.drop("action"))
    with pytest.raises(ValueError, match="no time"):
        sessions(ev.with_columns(pl.lit(None, dtype=pl.Datetime("us")).alias("time")))


def test_empty_events_give_no_sequences() -> None:
    ev = events([])
    assert len(sessions(ev)) == 0 and len(user_days(ev)) == 0


# --- session rules for any log (own logs: actions + idle gap + maximum length) --------------


def own(rows: list[tuple[float, str, str, str]]) -> pl.DataFrame:
    """rows: (minute offset, user, host, action) of an own log (source other); row i = event row i."""
    return _frame(rows, ["other"] * len(rows), [a for *_, a in rows])


def test_common_spellings_of_login_and_logout_open_and_close() -> None:
    assert normalize_action("Sign-In") == normalize_action("sign_in") == "signin"
    ev = own(
        [
            (0, "A", "P", "login"),
            (1, "A", "P", "view_record"),
            (2, "A", "P", "logout"),
            (3, "A", "P", "Sign-In"),
            (4, "A", "P", "ssh"),
            (5, "A", "P", "Session Start"),
            (6, "A", "P", "logged-out"),
            (7, "A", "P", "git_push"),
        ]
    )
    rule = SessionRule(idle_gap_s=0, max_duration_s=0)
    assert groups(ev, lambda e: sessions(e, rule)) == [[0, 1, 2], [3, 4], [5, 6], [7]]
    assert closed_by_logoff(ev, sessions(ev, rule), rule).tolist() == [True, False, True, False]
    # the paper's rule knows none of these: one session (the bug of the issue)
    assert groups(ev) == [list(range(8))]


def test_idle_gap_splits_a_log_without_session_actions() -> None:
    ev = own(
        [
            (0, "A", "P", "ssh"),
            (29, "A", "P", "sudo"),
            (59, "A", "P", "ssh"),  # gaps of 29/30 min: same
            (89.5, "A", "P", "git_push"),
            (90, "B", "P", "ssh"),
            (200, "B", "P", "ssh"),
        ]
    )
    assert groups(ev, lambda e: sessions(e, SessionRule())) == [[0, 1, 2], [3], [4], [5]]
    # idle rule off: one session per user and host
    off = SessionRule(idle_gap_s=0, max_duration_s=0)
    assert groups(ev, lambda e: sessions(e, off)) == [[0, 1, 2, 3], [4, 5]]


def test_maximum_duration_splits_long_sessions_from_their_first_event() -> None:
    rule = SessionRule(idle_gap_s=0, max_duration_s=3600)
    # events every 25 minutes for 3 hours: sessions start at 0, 75, 150 (each may last up to 60 min)
    ev = own([(25 * i, "A", "P", "ssh") for i in range(8)])
    assert groups(ev, lambda e: sessions(e, rule)) == [[0, 1, 2], [3, 4, 5], [6, 7]]
    # an open action resets the clock
    ev = own([(0, "A", "P", "ssh"), (50, "A", "P", "login"), (100, "A", "P", "ssh"), (111, "A", "P", "ssh")])
    assert groups(ev, lambda e: sessions(e, rule)) == [[0], [1, 2], [3]]


def test_cert_keeps_the_papers_rule_unless_asked() -> None:
    assert default_rule(cert=True) == SessionRule.cert() == make_rule(True)
    assert default_rule(cert=False) == make_rule(False) == SessionRule()
    asked = make_rule(True, idle_minutes=30)
    assert asked.kind == "actions" and asked.idle_gap_s == 1800 and asked.max_duration_s == 0
    custom = make_rule(False, open_actions="Badge In, VPN up", close_actions="badge out", max_hours=0)
    assert custom.open_actions == ("badgein", "vpnup") and custom.max_duration_s == 0
    assert SessionRule.from_json(custom.to_json()) == custom and SessionRule.from_json(None) == SessionRule.cert()
    with pytest.raises(ValueError, match="both open and close"):
        SessionRule(("login",), ("Login",))
    # CERT's rule is exact: an own-log 'login' on the logon source is not a CERT Logon
    ev = events([(0, "A", "P1", "on"), (1, "A", "P1", "web")]).vstack(
        own([(2, "A", "P1", "login")]).with_columns(pl.lit("logon").alias("source"))
    )
    assert groups(ev) == [[0, 1, 2]]


def test_length_distribution_counts_events_and_minutes() -> None:
    ev = own([(0, "A", "P", "login"), (10, "A", "P", "ssh"), (20, "A", "P", "logout"), (30, "B", "P", "ssh")])
    g = sessions(ev, SessionRule())
    d = length_distribution(g, ev["time"].cast(pl.Int64).to_numpy())
    assert d["sessions"] == 2 and d["single_event"] == 1
    assert d["events"]["max"] == 3 and d["events"]["min"] == 1
    assert d["minutes"]["max"] == 20 and d["minutes"]["min"] == 0


RULES = [
    SessionRule.cert(),
    SessionRule(),
    SessionRule(idle_gap_s=600, max_duration_s=0),
    SessionRule(idle_gap_s=0, max_duration_s=5400),
]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_stream_sessionizer_equals_batch_on_random_log(rule: SessionRule) -> None:
    """The live sessionizer, fed events one by one in (time, row) order, forms the batch sessions."""
    from neighborwatch.streaming.events import LiveEvent
    from neighborwatch.streaming.session_state import Sessionizer

    rng = np.random.default_rng(11)
    acts = ["login", "logout", "ssh", "sudo", "git_push", "Logon", "Logoff", "view_record"]
    rows = sorted(
        (float(rng.integers(0, 24 * 60)), f"U{rng.integers(4)}", f"P{rng.integers(2)}", str(rng.choice(acts)))
        for _ in range(600)
    )
    ev = own(rows).with_columns(
        pl.when(pl.col("action").is_in(["Logon", "Logoff"]))
        .then(pl.lit("logon"))
        .otherwise(pl.col("source"))
        .alias("source")
    )
    batch = {tuple(g) for g in groups(ev, lambda e: sessions(e, rule))}
    live = Sessionizer(collapse=False, rule=rule)
    got: dict[str, list[int]] = {}
    for i, r in enumerate(ev.iter_rows(named=True)):
        e = LiveEvent(r["event_id"], int(r["time"].timestamp() * 1e6), r["user"], r["host"], r["source"], r["action"])
        route = live.route(e, 1)
        if route.closes_previous is not None:
            live.end(route.key)
        cur = live.start(e, 0) if route.opens else live.open[route.key]
        live.append(cur, e, 1, kept=True)
        got.setdefault(cur.session_id, []).append(i)
        if route.closes_after:
            live.end(route.key)
    assert {tuple(v) for v in got.values()} == batch
    assert len(batch) > 20  # the log really has many sessions
    # the rule survives a snapshot of the sessionizer
    assert Sessionizer.from_json(live.to_json()).rule == rule
