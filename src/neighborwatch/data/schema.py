"""The canonical tables every stage after ingestion reads.

`events` holds what a detector may see; `labels` is a separate table so that nothing that
builds model inputs can read ground truth by accident (only evaluation and the supervised part
of training join it, on `event_id`).
"""

from __future__ import annotations

from typing import TypeAlias, TypeVar

import polars as pl

# a column type as polars takes it: a class (pl.Utf8) or an instance (pl.Datetime("us"))
DType: TypeAlias = pl.DataType | type[pl.DataType]

SOURCES = ("logon", "device", "file", "email", "http")  # CERT's log families
# own logs may also carry these (field presets map event categories onto them; anything else: other)
OWN_SOURCES = ("process", "network", "other")
EVENT_SOURCES = SOURCES + OWN_SOURCES

# Canonical action names. CERT files that lack an activity column (r4 file/email/http) get the
# default of their source, so that every release yields the same vocabulary.
DEFAULT_ACTION = {"file": "File Open", "email": "Send", "http": "WWW Visit"}
LOGON_ACTIONS = ("Logon", "Logoff")
DEVICE_ACTIONS = ("Connect", "Disconnect")

EVENT_SCHEMA: dict[str, DType] = {
    "event_id": pl.Utf8,
    "time": pl.Datetime("us"),
    "user": pl.Utf8,
    "host": pl.Utf8,
    "source": pl.Utf8,
    "action": pl.Utf8,
    # optional details (null where the source has none)
    "url": pl.Utf8,
    "domain": pl.Utf8,
    "filename": pl.Utf8,
    "to_removable": pl.Boolean,
    "from_removable": pl.Boolean,
    "recipients": pl.Int32,
    "external_recipients": pl.Int32,
    # e-mail addresses outside the organisation (lowercase): the sender when it is one, and the
    # recipients, ';'-joined; they tell a user's own private address from other outside people
    "external_sender": pl.Utf8,
    "external_addresses": pl.Utf8,
    "size": pl.Int64,
    "attachments": pl.Int32,
    # own-log details (field presets: source.ip, destination.ip, process.name, event.outcome)
    "src_ip": pl.Utf8,
    "dst_ip": pl.Utf8,
    "process": pl.Utf8,
    "outcome": pl.Utf8,
}
REQUIRED_EVENT_COLUMNS = ("event_id", "time", "user", "host", "source", "action")

LABEL_SCHEMA: dict[str, DType] = {
    "event_id": pl.Utf8,
    "malicious": pl.Boolean,
    "scenario": pl.Int8,
    "insider": pl.Utf8,
}


Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def conform_events(df: Frame) -> Frame:
    """Select and cast to EVENT_SCHEMA, adding missing optional columns as nulls (eager in, eager out)."""
    names = df.collect_schema().names() if isinstance(df, pl.LazyFrame) else df.columns
    missing = [c for c in REQUIRED_EVENT_COLUMNS if c not in names]
    if missing:
        raise ValueError(f"events lack required columns: {missing}")
    return df.select([(pl.col(c) if c in names else pl.lit(None)).cast(t).alias(c) for c, t in EVENT_SCHEMA.items()])


def empty_events() -> pl.DataFrame:
    return pl.DataFrame(schema=EVENT_SCHEMA)


def empty_labels() -> pl.DataFrame:
    return pl.DataFrame(schema=LABEL_SCHEMA)
