"""Where alerts (and, optionally, every scored event) go: JSON lines, syslog CEF, webhook.

File sinks are *transactional* with the engine snapshots: the snapshot records each file's byte
length, and a restart truncates the file back to it before the events after the snapshot are
redelivered and re-scored — so a crash never leaves a duplicate or a gap in the file. Network
sinks (syslog, webhook) cannot take a message back: after a crash they may repeat the alerts
raised since the last snapshot (at-least-once; alert ids are stable, receivers can dedup).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger("neighborwatch.sinks")


class Sink:
    name = "sink"

    def write_records(self, records: list[dict[str, Any]]) -> None:  # every released event
        pass

    def write_alerts(self, alerts: list[dict[str, Any]]) -> None:
        pass

    def write_dead_letters(self, entries: list[dict[str, Any]]) -> None:  # events that failed
        pass

    def flush(self) -> None:
        """Make what was written durable (file sinks: fsync; called before every snapshot)."""

    def offset(self) -> int | None:
        """Durable position for snapshots (None: the sink cannot roll back)."""
        return None

    def truncate(self, offset: int) -> None:
        pass

    def close(self) -> None:
        pass


class JsonlSink(Sink):
    """One JSON object per line; `what` = 'alerts', 'scores' (one line per released event) or
    'dead-letter' (the runtime's dead-letter file)."""

    def __init__(self, path: str | Path, what: str = "alerts") -> None:
        if what not in ("alerts", "scores", "dead-letter"):
            raise ValueError("JsonlSink writes 'alerts', 'scores' or 'dead-letter'")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.what = what
        self.name = f"{what}:{self.path}"
        self._fh = open(self.path, "ab")

    def _write(self, objs: list[dict[str, Any]]) -> None:
        if objs:
            self._fh.write(b"".join(json.dumps(o, separators=(",", ":")).encode() + b"\n" for o in objs))

    def write_records(self, records: list[dict[str, Any]]) -> None:
        if self.what == "scores":
            self._write(records)

    def write_alerts(self, alerts: list[dict[str, Any]]) -> None:
        if self.what == "alerts":
            self._write(alerts)

    def write_dead_letters(self, entries: list[dict[str, Any]]) -> None:
        if self.what == "dead-letter":
            self._write(entries)

    def flush(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())  # the snapshot about to record this offset must not outlive it

    def offset(self) -> int:
        self._fh.flush()
        return self._fh.tell()

    def truncate(self, offset: int) -> None:
        self._fh.flush()
        self._fh.truncate(offset)
        self._fh.seek(offset)
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


_CONTROLS = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]")


def _cef_escape(value: Any, header: bool = False) -> str:
    """CEF escaping (ArcSight CEF spec, "Character encoding"): in header fields `\\` and `|`; in
    extension values `\\` and `=`, and CR / LF written as the two characters `\\r` / `\\n` (the
    only place the spec allows multi-line values). Newlines are not allowed in a header at all,
    and no other control character is wanted anywhere, so those become spaces: whatever a user
    or host name holds, it cannot end the syslog line and forge another."""
    s = _CONTROLS.sub(" ", str(value)).replace("\\", "\\\\")
    if header:
        return s.replace("|", "\\|").replace("\r", " ").replace("\n", " ")
    return s.replace("=", "\\=").replace("\r", "\\r").replace("\n", "\\n")


def cef_line(alert: dict[str, Any], hostname: str = "neighborwatch") -> str:
    """An RFC 3164 syslog line carrying a CEF:0 message (ArcSight / most SIEMs parse it)."""
    severity = 8 if alert["kind"] == "risk" else 6
    ext = {
        "rt": alert["time"],
        "suser": alert["user"],
        "shost": alert["host"],
        "externalId": alert["alert_id"],
        "cn1": alert["score"],
        "cn1Label": "score",
        "cn2": alert["risk"],
        "cn2Label": "risk",
        "cs1": alert["event_id"],
        "cs1Label": "eventId",
        "msg": alert["summary"],
    }
    body = "CEF:0|neighborwatch|neighborwatch|0.1|{}|{}|{}|{}".format(
        _cef_escape(alert["kind"], True),
        _cef_escape(f"{alert['kind']} alert for {alert['user']}", True),
        severity,
        " ".join(f"{k}={_cef_escape(v)}" for k, v in ext.items()),
    )
    ts = datetime.now(UTC).strftime("%b %d %H:%M:%S")
    return f"<{8 * 13 + (2 if severity >= 8 else 4)}>{ts} {_cef_escape(hostname, True).replace(' ', '-')} {body}"


class CefSyslogSink(Sink):
    """CEF over syslog, UDP (one datagram per alert) or TCP (newline-framed)."""

    def __init__(self, host: str, port: int, proto: str = "udp") -> None:
        if proto not in ("udp", "tcp"):
            raise ValueError("syslog protocol must be udp or tcp")
        self.addr, self.proto = (host, int(port)), proto
        self.name = f"cef+{proto}://{host}:{port}"
        self._sock: socket.socket | None = None
        self.errors = 0

    def _socket(self) -> socket.socket:
        if self._sock is None:
            if self.proto == "udp":
                self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            else:
                self._sock = socket.create_connection(self.addr, timeout=2.0)
        return self._sock

    def write_alerts(self, alerts: list[dict[str, Any]]) -> None:
        for a in alerts:
            data = cef_line(a).encode()
            try:
                if self.proto == "udp":
                    self._socket().sendto(data, self.addr)
                else:
                    self._socket().sendall(data + b"\n")
            except OSError as e:
                self.errors += 1
                log.warning("syslog sink %s: %s", self.name, e)
                if self._sock is not None and self.proto == "tcp":
                    self._sock.close()
                    self._sock = None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()


class WebhookSink(Sink):
    """POSTs each batch of alerts as JSON (`{"alerts": [...]}`); failures are counted, not fatal."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 2.0, retries: int = 2) -> None:
        import httpx

        self.url, self.retries = url, retries
        self.name = f"webhook:{url}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(timeout=timeout, headers=headers)
        self.errors = 0

    def write_alerts(self, alerts: list[dict[str, Any]]) -> None:
        if not alerts:
            return
        for attempt in range(self.retries + 1):
            try:
                r = self._client.post(self.url, json={"alerts": alerts})
                if r.status_code < 500:
                    if r.status_code >= 400:
                        log.warning("webhook %s answered %s", self.url, r.status_code)
                        self.errors += 1
                    return
            except Exception as e:  # noqa: BLE001 — a receiver being down must not stop detection
                log.warning("webhook %s: %s", self.url, e)
        self.errors += 1

    def close(self) -> None:
        self._client.close()


def parse_sink(spec: str) -> Sink:
    """`jsonl:PATH` | `scores:PATH` | `cef+udp://HOST:PORT` | `cef+tcp://HOST:PORT` | `webhook:URL`."""
    if spec.startswith("jsonl:"):
        return JsonlSink(spec[6:], "alerts")
    if spec.startswith("scores:"):
        return JsonlSink(spec[7:], "scores")
    if spec.startswith("webhook:"):
        return WebhookSink(spec[8:])
    if spec.startswith(("cef+udp://", "cef+tcp://", "syslog://")):
        u = urlparse(spec.replace("syslog://", "cef+udp://"))
        if not u.hostname or not u.port:
            raise ValueError(f"sink {spec!r} needs HOST:PORT")
        return CefSyslogSink(u.hostname, u.port, u.scheme.split("+")[1])
    raise ValueError(f"unknown sink {spec!r}; use jsonl:PATH, scores:PATH, cef+udp://H:P, cef+tcp://H:P or webhook:URL")
