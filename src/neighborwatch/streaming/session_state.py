"""Incremental sessionization: the batch sessionizer's rules applied one event at a time.

Rules (LAN.md §2.5-2.6, `neighborwatch.sequences.sessionize`): a session is per user AND per PC;
it opens at a Logon, or at the first event on a PC with no open session; it closes at a Logoff
(which belongs to it) or at the next Logon on the same PC (which opens the next one). With the
repeat collapse on, a token equal to the previous kept token of the same session is dropped
from the sequence (label-blind) — live, such an event is reported with the score of the activity
it repeats (as in batch evaluation) but is not fed to the scorer.

The sessionizer only decides *where* an event goes; the engine owns scorer state per session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from neighborwatch.streaming.events import LiveEvent

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
    def from_json(cls, obj: dict[str, Any]) -> "OpenSession":
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

    def __init__(self, collapse: bool = True) -> None:
        self.collapse = collapse
        self.open: dict[tuple[str, str], OpenSession] = {}

    def route(self, ev: LiveEvent, token: int) -> Route:
        key = (ev.user, ev.host)
        cur = self.open.get(key)
        is_logon = ev.source == "logon" and ev.action == "Logon"
        is_logoff = ev.source == "logon" and ev.action == "Logoff"
        if cur is None:
            return Route(key, True, None, False, is_logoff)
        if is_logon:
            return Route(key, True, cur, False, False)
        collapsed = self.collapse and cur.length > 0 and token == cur.last_token
        return Route(key, False, None, collapsed, is_logoff)

    def start(self, ev: LiveEvent, slot: int) -> OpenSession:
        s = OpenSession(session_id=f"{ev.user}|{ev.host}|{ev.event_id}", user=ev.user, host=ev.host,
                        slot=slot, start_us=ev.time_us, last_us=ev.time_us)
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

    def to_json(self) -> dict[str, Any]:
        return {"collapse": self.collapse, "open": [s.to_json() for s in self.open.values()]}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Sessionizer":
        out = cls(collapse=bool(obj["collapse"]))
        for s in obj["open"]:
            sess = OpenSession.from_json(s)
            out.open[(sess.user, sess.host)] = sess
        return out
