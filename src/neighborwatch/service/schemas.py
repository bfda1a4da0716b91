"""Request bodies of the API (pydantic): strict enough that a malformed event is a clear 422."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from neighborwatch.data.schema import EVENT_SOURCES

Source = Literal[EVENT_SOURCES]  # type: ignore[valid-type]
Short = Field(min_length=1, max_length=256)


class EventIn(BaseModel):
    """One canonical event (data.schema.EVENT_SCHEMA); unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=256)
    time: datetime | float
    user: str = Field(min_length=1, max_length=256)
    host: str = Field(min_length=1, max_length=256)
    source: Source
    action: str = Field(min_length=1, max_length=256)
    url: str | None = Field(default=None, max_length=4096)
    domain: str | None = Field(default=None, max_length=1024)
    filename: str | None = Field(default=None, max_length=4096)
    to_removable: bool | None = None
    from_removable: bool | None = None
    recipients: int | None = Field(default=None, ge=0)
    external_recipients: int | None = Field(default=None, ge=0)
    size: int | None = Field(default=None, ge=0)
    attachments: int | None = Field(default=None, ge=0)
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
