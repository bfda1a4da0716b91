"""Incremental sessionization: the batch sessionizer's rules applied one event at a time.

Rules (LAN.md §2.5-2.6): the batch sessionizer's `SessionRule` (`neighborwatch.sequences.sessionize`,
saved in the WORK's config.json). A session is per user AND per PC; it opens at an open action
(CERT: Logon), or at the first event on a PC with no open session; it closes at a close action
(which belongs to it), at the next open action on the same PC (which opens the next one), and —
where the rule has them — when the event comes more than the idle gap after the session's last
event or more than the maximum duration after its first (that event opens the next one). With the
repeat collapse on, a token equal to the previous kept token of the same session is dropped
from the sequence (label-blind) — live, such an event is reported with the score of the activity
it repeats (as in batch evaluation) but is not fed to the scorer.

The sessionizer only decides *where* an event goes; the engine owns scorer state per session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from neighborwatch.sequences.sessionize import SessionRule
from neighborwatch.streaming.events import LiveEvent

SWEEP_US = 60 * 1_000_000  # event time between scans for sessions the rule has closed
RECENT_EVENTS = 5  # raw events kept per session so that alerts can show what led up to them


@dataclass(slots=True)
class OpenSession:
    session_id: str
    user: str
    host: str
    slot: int  # row of this session's state in the scorer
    start_us: int
    last_us: int
    length: int = 0  # kept (tokenized, not collapsed) activities so far
    last_token: int = 0
    last_score: float | None = None  # score of the last kept activity: its collapsed repeats get it
    # the last raw events (LiveEvent objects live, dicts after a restore): JSON only when needed
    recent: list[Any] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]
        out["recent"] = [e.to_json() if isinstance(e, LiveEvent) else e for e in self.recent]
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> OpenSession:
        return cls(**obj)


@dataclass(slots=True)
class Route:
    """Where one event goes: the session it joins, and what happens around it."""

    key: tuple[str, str]
    opens: bool  # the event starts a new session
    closes_previous: OpenSession | None  # a session this event closed before joining its own
    collapsed: bool  # a repeat dropped from the sequence (not scored)
    closes_after: bool  # the session ends with this event (Logoff)


class Sessionizer:
    """Open sessions keyed by (user, host)."""

    def __init__(self, collapse: bool = True, rule: SessionRule | None = None) -> None:
        self.collapse = collapse
        self.rule = rule or SessionRule.cert()
        self._idle_us = int(self.rule.idle_gap_s * 1_000_000)
        self._max_us = int(self.rule.max_duration_s * 1_000_000)
        self.open: dict[tuple[str, str], OpenSession] = {}
        self._swept_us = -(2**62)

    def _expired(self, s: OpenSession, time_us: int) -> bool:
        """Would an event at `time_us` start a new session by the idle / maximum-length rule?"""
        return bool(
            (self._idle_us and time_us - s.last_us > self._idle_us)
            or (self._max_us and time_us - s.start_us > self._max_us)
        )

    def route(self, ev: LiveEvent, token: int) -> Route:
        key = (ev.user, ev.host)
        cur = self.open.get(key)
        is_logoff = self.rule.is_close(ev.source, ev.action)
        if cur is None:
            return Route(key, True, None, False, is_logoff)
        if self.rule.is_open(ev.source, ev.action) or self._expired(cur, ev.time_us):
            return Route(key, True, cur, False, is_logoff)
        collapsed = self.collapse and cur.length > 0 and token == cur.last_token
        return Route(key, False, None, collapsed, is_logoff)

    def start(self, ev: LiveEvent, slot: int) -> OpenSession:
        s = OpenSession(
            session_id=f"{ev.user}|{ev.host}|{ev.event_id}",
            user=ev.user,
            host=ev.host,
            slot=slot,
            start_us=ev.time_us,
            last_us=ev.time_us,
        )
        self.open[(ev.user, ev.host)] = s
        return s

    @staticmethod
    def append(s: OpenSession, ev: LiveEvent, token: int, kept: bool) -> None:
        s.last_us = ev.time_us
        if kept:
            s.length += 1
            s.last_token = token
        s.recent.append(ev)
        if len(s.recent) > RECENT_EVENTS:
            del s.recent[0]

    def end(self, key: tuple[str, str]) -> OpenSession | None:
        return self.open.pop(key, None)

    def idle(self, before_us: int) -> list[tuple[str, str]]:
        """Keys of sessions whose last event is older than `before_us` (for eviction)."""
        return [k for k, s in self.open.items() if s.last_us < before_us]

    def expired(self, now_us: int) -> list[tuple[str, str]]:
        """Keys of sessions the rule has closed by event time `now_us` (idle gap or maximum length
        passed): any later event of theirs opens a new session, so their state can go. Scans at
        most once per SWEEP_US of event time (the scan is over every open session)."""
        if not (self._idle_us or self._max_us) or now_us - self._swept_us < SWEEP_US:
            return []
        self._swept_us = now_us
        return [k for k, s in self.open.items() if self._expired(s, now_us)]

    def to_json(self) -> dict[str, Any]:
        return {
            "collapse": self.collapse,
            "rule": self.rule.to_json(),
            "open": [s.to_json() for s in self.open.values()],
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Sessionizer:
        out = cls(collapse=bool(obj["collapse"]), rule=SessionRule.from_json(obj.get("rule")))
        for s in obj["open"]:
            sess = OpenSession.from_json(s)
            out.open[(sess.user, sess.host)] = sess
        return out
