"""Field presets for common log exports: which field of a record becomes which canonical column.

`--map ecs`, `--map ocsf` and `--map winsec` name a preset; `--map ecs,user=account` starts from
the preset and overrides one key with your own column. A `FieldSpec` lists candidate paths (the
first non-empty one wins: Windows puts the acting account in TargetUserName for a logon but in
SubjectUserName for a file access) and optionally translates values (event code 4624 → Logon,
ECS category "authentication" → source logon). Paths are dotted (`user.name`): a flat key
"user.name" and a nested {"user": {"name": ...}} both match, so flat CSV exports and nested JSON
lines read alike. docs/own-logs.md shows every preset as a table (`preset_table` writes it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

EMPTY_VALUES = ("", "-")  # Windows writes "-" for "no such field"


@dataclass(frozen=True)
class FieldSpec:
    """Where one canonical column comes from: candidate paths, then an optional value table."""

    paths: tuple[str, ...]
    values: dict[str, str] = field(default_factory=dict)  # raw value (lower-cased) → canonical
    other: str | None = None  # canonical value for raw values the table lacks (None: keep raw)
    note: str = ""  # for the documentation table
    explicit: bool = False  # named by the user (must exist), not a preset's candidate


def column(path: str) -> FieldSpec:
    """One plain column / path, as an explicit `--map key=path` gives."""
    return FieldSpec((path,), explicit=True)


# canonical sources (data.schema.EVENT_SOURCES) for the category words of ECS, OCSF and free text
CATEGORY_SOURCE = {
    "authentication": "logon",
    "session": "logon",
    "logon": "logon",
    "login": "logon",
    "auth": "logon",
    "iam": "logon",
    "file": "file",
    "filesystem": "file",
    "web": "http",
    "http": "http",
    "proxy": "http",
    "email": "email",
    "mail": "email",
    "network": "network",
    "firewall": "network",
    "dns": "network",
    "process": "process",
    "device": "device",
    "driver": "device",
    "usb": "device",
    "removable": "device",
    "intrusion_detection": "network",
    "malware": "process",
    "host": "other",
    "configuration": "other",
}

ECS: dict[str, FieldSpec] = {
    "time": FieldSpec(("@timestamp", "event.created"), note="ISO-8601, converted to naive UTC"),
    "user": FieldSpec(("user.name", "user.id", "source.user.name")),
    "host": FieldSpec(("host.name", "host.hostname", "observer.name")),
    "action": FieldSpec(("event.action", "event.type", "event.code")),
    "source": FieldSpec(
        ("event.category",),
        CATEGORY_SOURCE,
        "other",
        note="first category: authentication/session → logon, file, web → http, "
        "email, network, process, driver → device; else other",
    ),
    "event_id": FieldSpec(("event.id",), note="absent: FILE:LINE"),
    "url": FieldSpec(("url.full", "url.original")),
    "domain": FieldSpec(("url.domain", "destination.domain")),
    "filename": FieldSpec(("file.path", "file.name")),
    "size": FieldSpec(("file.size", "http.response.bytes")),
    "src_ip": FieldSpec(("source.ip", "client.ip")),
    "dst_ip": FieldSpec(("destination.ip", "server.ip")),
    "process": FieldSpec(("process.name", "process.executable")),
    "outcome": FieldSpec(("event.outcome",)),
}

# OCSF: class_uid names the activity class; activity_name is the action within it
OCSF_CLASS_SOURCE = {
    "3002": "logon",
    "3003": "logon",
    "1001": "file",
    "4001": "network",
    "4002": "http",
    "4003": "network",
    "4009": "email",
    "1007": "process",
    "1004": "device",
    "authentication": "logon",
    "file system activity": "file",
    "network activity": "network",
    "http activity": "http",
    "email activity": "email",
    "process activity": "process",
}
OCSF: dict[str, FieldSpec] = {
    "time": FieldSpec(("time", "time_dt"), note="epoch milliseconds or ISO-8601"),
    "user": FieldSpec(("actor.user.name", "user.name", "actor.user.uid")),
    "host": FieldSpec(("device.hostname", "device.name", "src_endpoint.hostname")),
    "action": FieldSpec(("activity_name", "type_name", "activity_id")),
    "source": FieldSpec(
        ("class_uid", "class_name"),
        OCSF_CLASS_SOURCE,
        "other",
        note="3002/3003 → logon, 1001 → file, 4001/4003 → network, 4002 → http, "
        "4009 → email, 1007 → process, 1004 → device; else other",
    ),
    "event_id": FieldSpec(("metadata.uid",), note="absent: FILE:LINE"),
    "url": FieldSpec(("http_request.url.url_string", "url.url_string")),
    "domain": FieldSpec(("http_request.url.hostname", "dst_endpoint.domain")),
    "filename": FieldSpec(("file.path", "file.name")),
    "size": FieldSpec(("file.size", "traffic.bytes_out")),
    "src_ip": FieldSpec(("src_endpoint.ip",)),
    "dst_ip": FieldSpec(("dst_endpoint.ip",)),
    "process": FieldSpec(("process.name", "actor.process.name")),
    "outcome": FieldSpec(("status", "status_id")),
}

# Windows Security events as winlogbeat (or similar) exports them to JSON lines
WINSEC_ACTION = {
    "4624": "Logon",
    "4634": "Logoff",
    "4647": "Logoff",
    "4625": "Logon Failed",
    "4663": "Object Access",
    "4656": "Object Handle",
    "6416": "Connect",
    "4688": "Process Start",
    "4689": "Process End",
    "4648": "Explicit Credential Logon",
    "4672": "Special Privileges",
}
WINSEC_SOURCE = {
    "4624": "logon",
    "4634": "logon",
    "4647": "logon",
    "4625": "logon",
    "4648": "logon",
    "4672": "logon",
    "4663": "file",
    "4656": "file",
    "6416": "device",
    "4688": "process",
    "4689": "process",
}
WINSEC: dict[str, FieldSpec] = {
    "time": FieldSpec(("@timestamp", "winlog.time_created", "TimeCreated")),
    "user": FieldSpec(
        ("winlog.event_data.TargetUserName", "winlog.event_data.SubjectUserName", "user.name"),
        note="the logged-on account for 4624/4634, the acting one (Subject) otherwise; '-' counts as empty",
    ),
    "host": FieldSpec(("winlog.computer_name", "host.name", "Computer")),
    "action": FieldSpec(
        ("winlog.event_id", "event.code", "EventID"),
        WINSEC_ACTION,
        note="4624 Logon, 4634/4647 Logoff, 4625 Logon Failed, 4663 Object Access, "
        "6416 Connect, 4688 Process Start, …; other codes kept as the number",
    ),
    "source": FieldSpec(
        ("winlog.event_id", "event.code", "EventID"),
        WINSEC_SOURCE,
        "other",
        note="logon events → logon, 4663/4656 → file, 6416 → device, 4688/4689 → process",
    ),
    "filename": FieldSpec(("winlog.event_data.ObjectName", "file.path")),
    "src_ip": FieldSpec(("winlog.event_data.IpAddress", "source.ip")),
    "process": FieldSpec(("winlog.event_data.NewProcessName", "winlog.event_data.ProcessName", "process.executable")),
    "outcome": FieldSpec(("event.outcome", "winlog.keywords")),
}

PRESETS: dict[str, dict[str, FieldSpec]] = {"ecs": ECS, "ocsf": OCSF, "winsec": WINSEC}


def preset_table(name: str) -> str:
    """The preset as a Markdown table (canonical column | fields tried in order | notes)."""
    rows = ["| column | fields, first non-empty wins | notes |", "|---|---|---|"]
    for key, spec in PRESETS[name].items():
        paths = ", ".join(f"`{p}`" for p in spec.paths)
        rows.append(f"| {key} | {paths} | {spec.note} |")
    return "\n".join(rows)
