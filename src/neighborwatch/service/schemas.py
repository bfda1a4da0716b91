"""Request bodies of the API (pydantic): strict enough that a malformed event is a clear 422."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from neighborwatch.data.schema import EVENT_SOURCES

Source = Literal[EVENT_SOURCES]  # type: ignore[valid-type]
MAX_COUNT = 2**53  # counts and sizes beyond exact doubles are not real
MAX_OFFSET = 2**31  # paging offsets (SQLite takes 64-bit; nothing sane goes past this)
EpochSeconds = Annotated[float, Field(allow_inf_nan=False, ge=-1e12, le=1e12)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Short = Field(min_length=1, max_length=256)


class EventIn(BaseModel):
    """One canonical event (data.schema.EVENT_SCHEMA); unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=256)
    time: datetime | EpochSeconds  # the accepted range is checked by streaming.events.parse_event
    user: str = Field(min_length=1, max_length=256)
    host: str = Field(min_length=1, max_length=256)
    source: Source
    action: str = Field(min_length=1, max_length=256)
    url: str | None = Field(default=None, max_length=4096)
    domain: str | None = Field(default=None, max_length=1024)
    filename: str | None = Field(default=None, max_length=4096)
    to_removable: bool | None = None
    from_removable: bool | None = None
    recipients: Count | None = None
    external_recipients: Count | None = None
    external_sender: str | None = Field(default=None, max_length=1024)
    external_addresses: str | None = Field(default=None, max_length=65536)
    size: Count | None = None
    attachments: Count | None = None
    src_ip: str | None = Field(default=None, max_length=256)
    dst_ip: str | None = Field(default=None, max_length=256)
    process: str | None = Field(default=None, max_length=4096)
    outcome: str | None = Field(default=None, max_length=256)

    def to_event_dict(self) -> dict:
        d = self.model_dump(exclude_none=True)
        if isinstance(self.time, datetime):
            d["time"] = self.time.replace(tzinfo=None).isoformat()
        return d


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn]


class StatusUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "confirmed", "dismissed"]
    note: str | None = Field(default=None, max_length=2000)
