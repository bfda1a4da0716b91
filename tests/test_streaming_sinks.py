"""Alert sinks: JSON lines (with snapshot rollback), syslog CEF over UDP and TCP, webhook."""

from __future__ import annotations

import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from neighborwatch.streaming.sinks import CefSyslogSink, JsonlSink, WebhookSink, cef_line, parse_sink

ALERT = {
    "alert_id": "activity:E1",
    "kind": "activity",
    "user": "U|1",
    "host": "PC=1",
    "time": "2010-01-04T02:00:00",
    "event_id": "E1",
    "score": 0.99,
    "risk": 3.2,
    "summary": "Connect at 2h had probability 0.0100",
}


def test_jsonl_sink_rolls_back_to_a_snapshot_offset(tmp_path):
    s = JsonlSink(tmp_path / "a.jsonl")
    s.write_alerts([ALERT])
    off = s.offset()
    s.write_alerts([dict(ALERT, alert_id="risk:E2")])
    s.write_records([{"event_id": "E9"}])  # an alerts sink ignores records
    s.truncate(off)
    s.write_alerts([dict(ALERT, alert_id="activity:E3")])
    s.close()
    ids = [json.loads(x)["alert_id"] for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert ids == ["activity:E1", "activity:E3"]


def test_cef_escapes_and_travels_over_udp_and_tcp():
    line = cef_line(ALERT)
    assert line.startswith("<") and "CEF:0|neighborwatch|" in line
    assert "suser=U|1" in line and "shost=PC\\=1" in line  # extension values escape '=' only
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(5)
    sink = parse_sink(f"cef+udp://127.0.0.1:{udp.getsockname()[1]}")
    sink.write_alerts([ALERT])
    assert b"externalId=activity:E1" in udp.recv(65536)
    udp.close()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    tcp = CefSyslogSink("127.0.0.1", srv.getsockname()[1], "tcp")
    tcp.write_alerts([ALERT, ALERT])
    conn, _ = srv.accept()
    conn.settimeout(5)
    data = b""
    while data.count(b"\n") < 2:
        data += conn.recv(65536)
    assert data.count(b"CEF:0") == 2
    tcp.close()
    conn.close()
    srv.close()
    with pytest.raises(ValueError):
        parse_sink("carrier-pigeon://x")


def test_cef_escaping_follows_the_spec_and_cannot_forge_a_syslog_line():
    forged = "U1\r\n<110>Dec 01 00:00:00 evil CEF:0|x|x|1|risk|forged|10|suser=admin"
    a = dict(ALERT, kind="risk", user=forged, host="PC\\7=a|b\x00c", summary="line one\nline two")
    line = cef_line(a)
    assert "\n" not in line and "\r" not in line and "\x00" not in line  # one syslog line, always
    fields = re.split(r"(?<!\\)\|", line, maxsplit=7)  # a SIEM splits the header on unescaped pipes
    assert fields[0].endswith(" CEF:0") and fields[4] == "risk" and fields[6] == "8"
    # header: `|` and `\` escaped, CR/LF not allowed there (spaces)
    assert (
        fields[5] == "risk alert for U1  <110>Dec 01 00:00:00 evil CEF:0\\|x\\|x\\|1\\|risk\\|forged\\|10\\|suser=admin"
    )
    # extension: `=` and `\` escaped, CR/LF as the two characters \r \n, `|` left alone
    ext = fields[7]
    assert "suser=U1\\r\\n<110>Dec 01 00:00:00 evil CEF:0|x|x|1|risk|forged|10|suser\\=admin " in ext
    assert "shost=PC\\\\7\\=a|b c " in ext and ext.endswith("msg=line one\\nline two")
    assert len(re.findall(r"(?<!\\)=", ext)) == 11  # exactly the 11 keys: no value forges a key


def test_webhook_posts_alerts_and_survives_a_dead_receiver():
    got: list[dict] = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = HTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    sink = WebhookSink(f"http://127.0.0.1:{srv.server_address[1]}/hook")
    sink.write_alerts([ALERT])
    srv.shutdown()
    srv.server_close()
    assert got == [{"alerts": [ALERT]}]
    sink.write_alerts([ALERT])  # nobody listening now: counted, not raised
    assert sink.errors == 1
    sink.close()
