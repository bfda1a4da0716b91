"""The triage dashboard in a real headless Chromium (Debian's, driven by playwright; nothing
downloaded), under a Content-Security-Policy that forbids inline script and style: incidents
arrive live from a replay, the queue pages through all of them with true counts, filters by user
and status, j/k/Enter open an incident whose timeline lists the raw log fields, confirm with a
note, the incident's alerts show their familiarity reasons, the user page shows the baselines and
the risk curve."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from neighborwatch.replay import replay
from neighborwatch.sequences.familiarity import build_familiarity
from neighborwatch.service.app import create_app
from neighborwatch.streaming.alerts import Thresholds
from neighborwatch.streaming.runtime import Runtime
from neighborwatch.streaming.sinks import JsonlSink
from neighborwatch.streaming.sources import MemorySource
from streaming_fixtures import bigram_engine, free_port, small_work

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN = "dash-token"
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:"
PAGE = 4


@pytest.fixture
def server(tmp_path):
    engine, _ = bigram_engine(small_work(), thresholds=Thresholds(activity=0.93, risk=4.0), max_hold_s=0.1)
    engine.familiarity = build_familiarity(small_work())  # what `train` saves beside a model
    rt = Runtime(engine, MemorySource(), [JsonlSink(tmp_path / "alerts.jsonl")], tmp_path / "state", poll_block_s=0.02)
    rt.restore()
    rt.start()
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(rt, TOKEN), host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    while not srv.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", rt
    srv.should_exit = True
    t.join(10)
    rt.stop()


def _settle(rt, sent: int, timeout: float = 60) -> int:
    """Wait until the runtime has released every event sent; returns the incident count."""
    end = time.time() + timeout
    while time.time() < end:
        with rt.lock:  # the worker scores and stores under this lock: a settled state
            c = rt.engine.counters
            if (
                not rt.engine.buffered
                and c["accepted"] + c["duplicate"] >= sent
                and sum(c[k] for k in ("scored", "first", "repeat", "rejected")) >= c["accepted"]
            ):
                return rt.alerts.query_incidents(limit=1)[0]
        time.sleep(0.1)
    raise AssertionError(f"not settled: {rt.engine.counters}")


def test_dashboard_triage_flow(server, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium; .ci/run does it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    url, rt = server
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

            def with_csp(route):  # the page must work without any inline script or style
                r = route.fetch()
                route.fulfill(response=r, headers={**r.headers, "content-security-policy": CSP})

            page.route("**/dashboard*", with_csp)
            page.goto(f"{url}/dashboard?token={TOKEN}&page={PAGE}")
            expect = sync_api.expect
            expect(page.locator("#live")).to_have_text("live", timeout=15000)
            assert page.locator("tr.incident").count() == 0

            sent: list[dict] = []
            sender = threading.Thread(
                target=lambda: sent.append(replay(small_work(), url, split="all", token=TOKEN, batch=300))
            )
            sender.start()
            page.wait_for_selector("tr.incident", timeout=30000)  # pushed over SSE, no reload
            sender.join(60)
            total = _settle(rt, sent[0]["events"])
            open_total = rt.alerts.query_incidents(status="open", limit=1)[0]
            assert total > PAGE, f"need more than one page of incidents, got {total}"
            expect(page.locator("#n-incidents")).to_have_text(str(total), timeout=15000)
            expect(page.locator("#page-info")).to_have_text(f"1–{PAGE} of {open_total}", timeout=15000)
            expect(page.locator("#n-alerts")).to_have_text(str(rt.alerts.query()[0]), timeout=15000)

            # paging reaches every incident, each once
            seen: list[str] = []
            while True:
                seen += [r.get_attribute("data-incident-id") for r in page.locator("tr.incident").all()]
                if page.locator("#next").is_disabled():
                    break
                before = page.locator("#page-info").text_content()
                page.locator("#next").click()
                expect(page.locator("#page-info")).not_to_have_text(before)
            assert len(seen) == len(set(seen)) == open_total

            # filter by user (keyboard: / focuses the field)
            page.locator("#prev").focus()
            page.keyboard.press("/")
            user = rt.alerts.query_incidents(limit=1)[1][0]["user"]
            page.keyboard.type(user)
            page.keyboard.press("Enter")
            n_user = rt.alerts.query_incidents(status="open", user=user, limit=1)[0]
            expect(page.locator("#page-info")).to_have_text(re.compile(f" of {n_user}$"), timeout=10000)
            users = {c.text_content() for c in page.locator("tr.incident td:nth-child(2)").all()}
            assert users == {user}

            # j / Enter open the second incident; its timeline has the raw fields as columns
            page.locator("#f-user").blur()
            expected = page.locator("tr.incident").nth(min(1, n_user - 1)).get_attribute("data-incident-id")
            page.keyboard.press("j")
            page.keyboard.press("Enter")
            page.wait_for_selector("#timeline-table tbody tr", timeout=10000)
            inc = rt.alerts.get_incident(expected)
            assert page.locator("#timeline-table tbody tr").count() >= 1
            headers = page.locator("#timeline-table th").all_text_contents()
            assert headers[:3] == ["time", "host", "activity"]
            first_row = page.locator("#timeline-table tbody tr").first.locator("td").all_text_contents()
            assert first_row[0][:4].isdigit() and first_row[1] and " / " in first_row[2]
            with rt.lock:
                live = rt.engine.incidents.incidents[expected]
                assert page.locator("#timeline-table tbody tr").count() == len(live.activities)
            # its alerts, each with the familiarity reason of its activity
            stored = [
                a for a in rt.alerts.query(user=inc["user"], limit=500)[1] if a["incident"]["incident_id"] == expected
            ]
            stored.sort(key=lambda a: a["time_us"])
            rows = page.locator("#alerts-table tbody tr")
            assert rows.count() == len(stored) == inc["alerts"] >= 1
            f = stored[0]["reasons"]["familiarity"]
            own = rows.first.locator("td.familiar-user").text_content()
            assert (
                own.startswith("first time")
                if f["first_time_for_user"]
                else own == f"{f['user_count']} times on {f['user_days']} days"
            )
            peers = rows.first.locator("td.familiar-peers").text_content()
            assert f"{f['peer_users_with_it']} of {f['peer_users']} peers" in peers or not f["peer_users"]
            assert ("rare" in peers.split(") ever did it")[-1]) == bool(f["rare_among_peers"])
            shot = tmp_path / "incident.png"
            page.screenshot(path=str(shot), full_page=True)
            if os.environ.get("NW_SCREENSHOT"):
                shutil.copy(shot, os.environ["NW_SCREENSHOT"])
            assert shot.stat().st_size > 10_000

            # confirm with a note, by keyboard
            page.locator("#note").fill("checked with the user's manager")
            page.locator("#note").blur()
            page.keyboard.press("c")
            expect(page.locator("#saved")).to_have_text("saved: confirmed")
            got = rt.alerts.get_incident(expected)
            assert got["status"] == "confirmed" and got["note"] == "checked with the user's manager"
            assert inc["status"] == "open"

            # back to the queue: the confirmed one left the open queue; the confirmed filter has it
            page.keyboard.press("Escape")
            page.wait_for_selector("#f-status")
            page.select_option("#f-status", "confirmed")
            expect(page.locator("#page-info")).to_have_text("1–1 of 1")
            assert page.locator(f'tr.incident[data-incident-id="{expected}"]').count() == 1

            # the user page: own and peers' baselines next to the latest day, and the risk curve
            page.goto(f"{url}/dashboard?token={TOKEN}#/user/{user}")
            page.wait_for_selector("#baseline tbody tr")
            assert page.locator("#baseline tbody tr").count() == 3
            page.wait_for_selector("#timeline circle")
            assert page.locator("#user-incidents li").count() == rt.alerts.query_incidents(user=user, limit=1)[0]
            assert not errors, errors
        finally:
            browser.close()
