"""One live event as the engine holds it, and the conversion from loose JSON-like dicts.

The canonical schema (`data.schema.EVENT_SCHEMA`) is the contract; live events carry the same
fields. Times are naive timestamps on the log's own clock (as CERT ships them and as the
tokenizer reads hours), held as epoch microseconds so that ordering and arithmetic are cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from neighborwatch.data.schema import EVENT_SCHEMA, EVENT_SOURCES, REQUIRED_EVENT_COLUMNS

_EPOCH = datetime(1970, 1, 1)
US = 1_000_000
OPTIONAL_FIELDS = tuple(c for c in EVENT_SCHEMA if c not in REQUIRED_EVENT_COLUMNS)


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
        out = {"event_id": self.event_id, "time": self.time.isoformat(), "user": self.user,
               "host": self.host, "source": self.source, "action": self.action}
        out.update({k: v for k, v in self.details.items() if v is not None})
        return out


def time_to_us(value: Any) -> int:
    """ISO-8601 string, datetime or epoch seconds → naive epoch microseconds.

    An aware timestamp keeps its wall-clock reading (its offset is dropped): hours of the day
    are what the tokenizer reads, and CERT-style logs are on local time.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, (int, float)):
        return int(round(float(value) * US))
    if isinstance(value, str):
        s = value.strip()
        if s.endswith("Z"):
            s = s[:-1]
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


def parse_event(obj: dict[str, Any], ack: Any = None, arrived: float = 0.0) -> LiveEvent:
    """Validate one event dict; raises ValueError naming the first problem."""
    if not isinstance(obj, dict):
        raise ValueError(f"an event must be an object, got {type(obj).__name__}")
    missing = [c for c in REQUIRED_EVENT_COLUMNS if obj.get(c) in (None, "")]
    if missing:
        raise ValueError(f"event lacks required field(s): {missing}")
    source = str(obj["source"])
    if source not in EVENT_SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {list(EVENT_SOURCES)}")
    details = {k: obj[k] for k in OPTIONAL_FIELDS if obj.get(k) is not None}
    return LiveEvent(
        event_id=str(obj["event_id"]),
        time_us=time_to_us(obj["time"]),
        user=str(obj["user"]),
        host=str(obj["host"]),
        source=source,
        action=str(obj["action"]),
        details=details,
        ack=ack,
        arrived=arrived,
    )
