"""The HTTP API: token auth, validation and size limits, back-pressure, alerts, users, metrics, SSE."""

from __future__ import annotations

import json
import re
import threading
import time

import polars as pl
import pytest
from fastapi.testclient import TestClient

from neighborwatch.service.app import create_app
from neighborwatch.streaming.alerts import Thresholds
from neighborwatch.streaming.events import parse_event
from neighborwatch.streaming.runtime import Runtime
from neighborwatch.streaming.sinks import JsonlSink
from neighborwatch.streaming.sources import MemorySource
from streaming_fixtures import bigram_engine, events_as_dicts, small_work

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_runtime(tmp_path, capacity=100_000, start=True):
    engine, _ = bigram_engine(small_work(), thresholds=Thresholds(activity=0.9, risk=3.0), max_hold_s=0.05)
    rt = Runtime(
        engine,
        MemorySource(capacity),
        [JsonlSink(tmp_path / "scores.jsonl", "scores")],
        tmp_path / "state",
        snapshot_every_s=0.5,
        poll_block_s=0.02,
    )
    rt.restore()
    if start:
        rt.start()
    return rt


@pytest.fixture
def service(tmp_path):
    rt = make_runtime(tmp_path)
    app = create_app(rt, TOKEN, max_batch=1000, max_body=512 * 1024)
    with TestClient(app) as client:
        yield client, rt
    rt.stop()


@pytest.fixture(scope="module")
def events():
    return events_as_dicts(pl.read_parquet(small_work() / "events.parquet"))


def wait_for(cond, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_auth_is_required_everywhere_but_health(service):
    client, _ = service
    assert client.get("/healthz").status_code == 200
    for method, path in [
        ("get", "/alerts"),
        ("get", "/users"),
        ("get", "/users/U001"),
        ("get", "/metrics"),
        ("get", "/dashboard"),
        ("get", "/alerts/stream"),
        ("get", "/thresholds"),
        ("post", "/events"),
        ("post", "/alerts/x/status"),
    ]:
        r = getattr(client, method)(path)
        assert r.status_code == 401, (path, r.status_code)
        assert r.headers.get("www-authenticate") == "Bearer"
    assert client.get("/alerts", headers={"Authorization": "Bearer wrong"}).status_code == 401
    # ?token= only where a browser cannot send a header (the page; the EventSource, see the SSE test)
    assert client.get("/alerts", params={"token": TOKEN}).status_code == 401
    assert client.get("/metrics", params={"token": TOKEN}).status_code == 401
    assert client.get("/dashboard", params={"token": TOKEN}).status_code == 200
    assert client.get("/alerts", headers=AUTH).status_code == 200
    assert client.get("/openapi.json").status_code == 401
    spec = client.get("/openapi.json", headers=AUTH).json()
    body = spec["paths"]["/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["events"]["items"] == {"$ref": "#/components/schemas/EventIn"}
    assert "time" in spec["components"]["schemas"]["EventIn"]["properties"]


def test_security_headers_on_every_response_and_no_inline_script(service):
    client, _ = service
    for r in (
        client.get("/healthz"),
        client.get("/alerts"),
        client.get("/alerts", headers=AUTH),
        client.get("/dashboard", params={"token": TOKEN}),
        client.get("/static/app.js"),
        client.get("/nope", headers=AUTH),
        client.post("/events", content=b"[", headers=AUTH),
    ):
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    page = client.get("/dashboard", params={"token": TOKEN}).text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert "<style" not in page  # styles come from /static/style.css too
    assert (
        client.get("/static/app.js").headers["content-type"].startswith(("text/javascript", "application/javascript"))
    )
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/secret.txt").status_code == 404


def _event_body(time: str, **fields: str) -> bytes:
    """A one-event batch with a raw JSON `time` (and other raw JSON fields) spliced in."""
    ev = {
        "event_id": '"p"',
        "time": time,
        "user": '"u"',
        "host": '"h"',
        "source": '"logon"',
        "action": '"Logon"',
        **fields,
    }
    return ('{"events": [{' + ", ".join(f'"{k}": {v}' for k, v in ev.items()) + "}]}").encode()


BAD_BODIES = [
    *(
        _event_body(t)
        for t in (
            "1e308",
            "Infinity",
            "-Infinity",
            "NaN",
            "253402300800",
            "-62135596801",
            "1e13",
            '"9999-12-31T23:59:59"',
        )
    ),
    _event_body('"2010-01-04T08:00:00"', user='"\\ud800"'),  # a lone surrogate
    _event_body('"2010-01-04T08:00:00"', source='"email"', action='"Send"', size="1e308"),
    b"[" * 100_000 + b"]" * 100_000,
    b'{"events": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
]


def test_bad_numbers_times_and_nesting_are_4xx_and_the_worker_goes_on(service, events):
    client, rt = service
    for body in BAD_BODIES:
        r = client.post("/events", content=body, headers=dict(AUTH, **{"Content-Type": "application/json"}))
        assert 400 <= r.status_code < 500 and r.json()["detail"], (body[:80], r.status_code)
    r = client.patch("/alerts/x", content=b"[" * 60_000, headers=AUTH)
    assert r.status_code == 400 and "deep" in r.json()["detail"]
    for off in ("9223372036854775808", "-1", "1e3", "99999999999999999999999"):
        r = client.get("/alerts", params={"offset": off}, headers=AUTH)
        assert r.status_code == 422, (off, r.status_code)
    assert client.post("/events", json={"events": events[:3]}, headers=AUTH).status_code == 202
    assert wait_for(lambda: rt.engine.counters["accepted"] == 3)
    assert client.get("/healthz").json()["status"] == "ok"


def test_poison_pill_via_http_is_dead_lettered_and_a_canary_is_still_scored(service, events):
    """An event that passes intake but breaks the engine (here: its session routing) is
    dead-lettered with the reason, acknowledged and counted; the worker scores what follows."""
    client, rt = service
    route = rt.engine.sessions.route

    def poisoned(ev, tok):
        if ev.user == "POISON":
            raise OverflowError("simulated fault deep in the engine")
        return route(ev, tok)

    rt.engine.sessions.route = poisoned
    poison = dict(events[0], event_id="poison-1", user="POISON")
    unknown = dict(events[1], event_id="poison-2", action="Teleport")  # the tokenizer refuses it
    assert client.post("/events", json={"events": [poison, unknown]}, headers=AUTH).status_code == 202
    canary = events[:40]  # a session's worth: its second event is scored
    assert client.post("/events", json={"events": canary}, headers=AUTH).status_code == 202
    assert wait_for(lambda: rt.engine.counters.get("scored", 0) > 0 and rt.engine.buffered == 0)
    with rt.lock:
        rt.snapshot()
    dead = [json.loads(x) for x in (rt.state_dir / "dead-letter.jsonl").read_text().splitlines()]
    by_id = {d["event_id"]: d for d in dead}
    assert by_id["poison-1"]["stage"] == "routing" and "simulated fault" in by_id["poison-1"]["reason"]
    assert by_id["poison-1"]["event"]["user"] == "POISON"
    assert by_id["poison-2"]["stage"] == "tokenize"
    metrics = client.get("/metrics", headers=AUTH).text
    assert 'neighborwatch_dead_letters_total{stage="routing"} 1' in metrics
    assert rt.alive and client.get("/healthz").json()["status"] == "ok"


def test_malformed_invalid_and_oversized_payloads_are_refused(service, events):
    client, rt = service
    r = client.post("/events", content=b"{not json", headers=AUTH)
    assert r.status_code == 400 and "JSON" in r.json()["detail"]
    bad = dict(events[0], source="fax")
    r = client.post("/events", json={"events": [events[1], bad]}, headers=AUTH)
    assert r.status_code == 422
    assert r.json()["detail"]["errors"][0]["loc"][:2] == ["events", 1]
    r = client.post("/events", json={"events": [dict(events[0], colour="red")]}, headers=AUTH)
    assert r.status_code == 422
    r = client.post("/events", json={"events": [{k: v for k, v in events[0].items() if k != "user"}]}, headers=AUTH)
    assert r.status_code == 422
    r = client.post("/events", json={"events": events[:1001]}, headers=AUTH)
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    big = json.dumps({"events": [dict(events[0], url="x" * 4000)] * 200}).encode()
    assert len(big) > 512 * 1024
    r = client.post("/events", content=big, headers=dict(AUTH, **{"Content-Type": "application/json"}))
    assert r.status_code == 413
    assert rt.engine.counters["accepted"] == 0  # nothing of a refused batch got in


def test_events_are_scored_and_alerts_listed_filtered_and_updated(service, events, tmp_path):
    client, rt = service
    for i in range(0, 1200, 400):
        r = client.post("/events", json={"events": events[i : i + 400]}, headers=AUTH)
        assert r.status_code == 202 and r.json() == {"accepted": 400}

    def all_scored() -> bool:
        with rt.lock:  # the runtime scores and stores alerts under this lock: read a settled state
            return rt.engine.counters["accepted"] == 1200 and rt.engine.buffered == 0

    assert wait_for(all_scored)
    body = client.get("/alerts", params={"limit": 5}, headers=AUTH).json()
    assert body["total"] > 5 and len(body["alerts"]) == 5
    page2 = client.get("/alerts", params={"limit": 5, "offset": 5}, headers=AUTH).json()["alerts"]
    assert not {a["alert_id"] for a in body["alerts"]} & {a["alert_id"] for a in page2}
    a = body["alerts"][0]
    r = client.post(f"/alerts/{a['alert_id']}/status", json={"status": "dismissed", "note": "known job"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    assert client.get(f"/alerts/{a['alert_id']}", headers=AUTH).json()["note"] == "known job"
    dismissed = client.get("/alerts", params={"status": "dismissed"}, headers=AUTH).json()
    assert [x["alert_id"] for x in dismissed["alerts"]] == [a["alert_id"]]
    assert client.post(f"/alerts/{a['alert_id']}/status", json={"status": "closed"}, headers=AUTH).status_code == 422
    assert client.post("/alerts/nope/status", json={"status": "open"}, headers=AUTH).status_code == 404
    by_user = client.get("/alerts", params={"user": a["user"], "kind": a["kind"]}, headers=AUTH).json()["alerts"]
    assert by_user and all(x["user"] == a["user"] and x["kind"] == a["kind"] for x in by_user)
    u = client.get(f"/users/{a['user']}", headers=AUTH).json()
    assert u["events"] > 0 and u["timeline"] and u["alerts"]
    assert client.get("/users/nobody", headers=AUTH).status_code == 404
    assert client.get("/users", headers=AUTH).json()["users"][0]["risk"] >= 0
    metrics = client.get("/metrics", headers=AUTH).text
    assert 'neighborwatch_events_total{status="scored"}' in metrics
    assert "neighborwatch_event_latency_seconds_bucket" in metrics and "neighborwatch_queue_depth" in metrics
    assert 'neighborwatch_alerts_total{kind="activity"}' in metrics


def test_full_queue_answers_429(tmp_path, events):
    rt = make_runtime(tmp_path, capacity=100, start=False)  # no worker: the queue only fills
    client = TestClient(create_app(rt, TOKEN))
    assert client.post("/events", json={"events": events[:80]}, headers=AUTH).status_code == 202
    r = client.post("/events", json={"events": events[80:160]}, headers=AUTH)
    assert r.status_code == 429 and r.headers["retry-after"]
    assert rt.source.depth == 80
    assert 'reason="backpressure"' in rt.metrics.render()


def test_sse_stream_delivers_new_alerts(service, events):
    client, rt = service
    got: list[dict] = []

    def listen():
        with client.stream("GET", "/alerts/stream", params={"token": TOKEN}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith("data: "):
                    got.append(json.loads(line[6:]))
                    return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    time.sleep(0.5)
    client.post("/events", json={"events": events[:600]}, headers=AUTH)
    t.join(20)
    assert got and got[0]["alert_id"] and got[0]["reasons"]["expected"]


class _FlakySource(MemorySource):
    """A source that fails its first `n` polls (Redis away), then works."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.failures = n

    def poll(self, max_n, block_s):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("source away")
        return super().poll(max_n, block_s)


class _BrokenSink(JsonlSink):
    def write_records(self, records):
        raise OSError(28, "No space left on device")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_failing_source_is_retried_and_a_failing_sink_stops_the_worker(tmp_path, events):
    from neighborwatch.service.server import watch_worker

    engine, _ = bigram_engine(small_work(), max_hold_s=0.0)
    rt = Runtime(engine, _FlakySource(3), [], tmp_path / "a", poll_block_s=0.01)
    rt.restore()
    rt.start()
    rt.enqueue([parse_event(d) for d in events[:20]])
    assert wait_for(lambda: engine.counters["accepted"] == 20)
    assert rt.alive and rt.metrics.worker_errors == 3 and rt.health()["status"] == "ok"
    rt.stop()
    # a sink failing after the engine took events in: the worker stops (the restart resumes
    # from the snapshot), /healthz turns 503 and the watchdog stops the HTTP server
    engine, _ = bigram_engine(small_work(), max_hold_s=0.0)
    rt = Runtime(
        engine, MemorySource(), [_BrokenSink(tmp_path / "s.jsonl", "scores")], tmp_path / "b", poll_block_s=0.01
    )
    rt.restore()
    client = TestClient(create_app(rt, TOKEN))
    rt.start()
    assert client.get("/healthz").status_code == 200
    server = type("Server", (), {"should_exit": False})()
    watch_worker(rt, server, every_s=0.02)
    rt.enqueue([parse_event(d) for d in events[:5]])
    assert wait_for(lambda: not rt.alive)
    r = client.get("/healthz")
    assert r.status_code == 503 and "No space left" in r.json()["error"] and rt.failed
    assert wait_for(lambda: server.should_exit)
    rt.stop()
    assert rt.metrics.snapshots == 1  # no final snapshot over a state that ran ahead of its sinks


def test_the_token_is_scrubbed_from_log_records():
    import logging

    from neighborwatch.service.server import RedactToken

    rec = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        'GET /dashboard?token=%s&x=1 "Authorization: Bearer %s"',
        (TOKEN, TOKEN),
        None,
    )
    assert RedactToken().filter(rec) and TOKEN not in rec.getMessage()
    assert "token=<redacted>&x=1" in rec.getMessage()
