"""One live event as the engine holds it, and the conversion from loose JSON-like dicts.

The canonical schema (`data.schema.EVENT_SCHEMA`) is the contract; live events carry the same
fields. Times are naive timestamps on the log's own clock (as CERT ships them and as the
tokenizer reads hours), held as epoch microseconds so that ordering and arithmetic are cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from neighborwatch.data.schema import EVENT_SCHEMA, EVENT_SOURCES, REQUIRED_EVENT_COLUMNS

_EPOCH = datetime(1970, 1, 1)
US = 1_000_000
OPTIONAL_FIELDS = tuple(c for c in EVENT_SCHEMA if c not in REQUIRED_EVENT_COLUMNS)
MAX_TEXT = 4096  # characters of any one text field of a live event


@dataclass(frozen=True)
class TimeRange:
    """Event times a live event may carry: [first_year-01-01, last_year+1-01-01).

    A time outside it is refused at intake: a year-10000 or a 1e13 s timestamp would otherwise
    pass JSON, then overflow the first datetime conversion deep in the worker.
    """

    first_year: int = 1970
    last_year: int = 2099

    def __post_init__(self) -> None:
        if not 1 <= self.first_year <= self.last_year <= 9998:
            raise ValueError(f"bad event time range {self.first_year}..{self.last_year} (years 1..9998)")

    @cached_property
    def lo_us(self) -> int:
        return time_to_us(datetime(self.first_year, 1, 1), None)

    @cached_property
    def hi_us(self) -> int:
        return time_to_us(datetime(self.last_year + 1, 1, 1), None)

    def __str__(self) -> str:
        return f"{self.first_year}-01-01 .. {self.last_year}-12-31"


DEFAULT_TIME_RANGE = TimeRange()


@dataclass(slots=True)
class LiveEvent:
    event_id: str
    time_us: int  # naive local clock, epoch microseconds
    user: str
    host: str
    source: str
    action: str
    details: dict[str, Any] = field(default_factory=dict)
    ack: Any = None  # source-specific token acknowledged once the event is durable in a snapshot
    arrived: float = 0.0  # monotonic arrival time, for the latency histogram

    @property
    def time(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self.time_us)

    def to_json(self) -> dict[str, Any]:
        """The raw event as an analyst wants to see it (ISO time, details inline)."""
        out = {
            "event_id": self.event_id,
            "time": self.time.isoformat(),
            "user": self.user,
            "host": self.host,
            "source": self.source,
            "action": self.action,
        }
        out.update({k: v for k, v in self.details.items() if v is not None})
        return out


def time_to_us(value: Any, time_range: TimeRange | None = DEFAULT_TIME_RANGE) -> int:
    """ISO-8601 string, datetime or epoch seconds → naive epoch microseconds, inside `time_range`
    (None: unchecked); ValueError for anything else, never OverflowError.

    An aware timestamp keeps its wall-clock reading (its offset is dropped): hours of the day
    are what the tokenizer reads, and CERT-style logs are on local time.
    """
    us = _to_us(value)
    if time_range is not None and not time_range.lo_us <= us < time_range.hi_us:
        raise ValueError(f"time {value!r} outside the accepted range {time_range}")
    return us


def _to_us(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or abs(value) > 1e12:  # ~ ±31 700 years: no datetime holds more
            raise ValueError(f"time {value!r} is not a finite epoch in seconds")
        return int(round(float(value) * US))
    if isinstance(value, str):
        s = value.strip()
        if s.endswith("Z"):
            s = s[:-1]
        if len(s) > 64:
            raise ValueError(f"not an ISO-8601 time: {value[:64]!r}...")
        try:
            value = datetime.fromisoformat(s)
        except ValueError as e:
            raise ValueError(f"not an ISO-8601 time: {value!r}") from e
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.replace(tzinfo=None)
        d = value - _EPOCH
        return (d.days * 86_400 + d.seconds) * US + d.microseconds
    raise ValueError(f"not a time: {value!r}")


def us_to_iso(time_us: int) -> str:
    return (_EPOCH + timedelta(microseconds=int(time_us))).isoformat()


def _text(value: Any, name: str) -> str:
    """A text field as a str that SQLite, JSON sinks and syslog can all carry."""
    if isinstance(value, (dict, list)):
        raise ValueError(f"field {name!r} must be text, not {type(value).__name__}")
    s = value if isinstance(value, str) else str(value)
    if len(s) > MAX_TEXT:
        raise ValueError(f"field {name!r} longer than {MAX_TEXT} characters")
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"field {name!r} holds a lone surrogate (not encodable text)") from None
    return s


def _detail(value: Any, name: str) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value) or abs(value) > 2**53:
            raise ValueError(f"field {name!r} = {value!r} is not a sane number")
        return value
    return _text(value, name)


def parse_event(
    obj: dict[str, Any], ack: Any = None, arrived: float = 0.0, time_range: TimeRange | None = DEFAULT_TIME_RANGE
) -> LiveEvent:
    """Validate one event dict; raises ValueError naming the first problem.

    Every intake path (HTTP, Redis, a snapshot's buffer) comes through here, so an event that
    passes cannot make the worker fail on its time, numbers or text."""
    if not isinstance(obj, dict):
        raise ValueError(f"an event must be an object, got {type(obj).__name__}")
    missing = [c for c in REQUIRED_EVENT_COLUMNS if obj.get(c) in (None, "")]
    if missing:
        raise ValueError(f"event lacks required field(s): {missing}")
    source = _text(obj["source"], "source")
    if source not in EVENT_SOURCES:
        raise ValueError(f"unknown source {source[:64]!r}; expected one of {list(EVENT_SOURCES)}")
    details = {k: _detail(obj[k], k) for k in OPTIONAL_FIELDS if obj.get(k) is not None}
    return LiveEvent(
        event_id=_text(obj["event_id"], "event_id"),
        time_us=time_to_us(obj["time"], time_range),
        user=_text(obj["user"], "user"),
        host=_text(obj["host"], "host"),
        source=source,
        action=_text(obj["action"], "action"),
        details=details,
        ack=ack,
        arrived=arrived,
    )
