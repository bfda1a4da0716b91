"""The dashboard in a real headless Chromium (Debian's, driven by playwright; nothing downloaded):
load the page, watch alerts arrive live from a replay, open the reasons, dismiss one."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from streaming_fixtures import bigram_engine, free_port, small_work

from neighborwatch.replay import replay
from neighborwatch.service.app import create_app
from neighborwatch.streaming.alerts import Thresholds
from neighborwatch.streaming.runtime import Runtime
from neighborwatch.streaming.sinks import JsonlSink
from neighborwatch.streaming.sources import MemorySource

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
TOKEN = "dash-token"


@pytest.fixture
def server(tmp_path):
    engine, _ = bigram_engine(small_work(), thresholds=Thresholds(activity=0.93, risk=4.0), max_hold_s=0.1)
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


def test_dashboard_shows_live_alerts_and_dismisses_one(server, tmp_path):
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
            page.goto(f"{url}/dashboard?token={TOKEN}")
            # selector waits, not wait_for_function: the page's CSP forbids the eval that one needs
            page.wait_for_selector("#live:text-is('live')", timeout=15000)
            assert page.locator("li.alert").count() == 0
            sender = threading.Thread(
                target=replay, args=(small_work(), url), kwargs={"split": "all", "token": TOKEN, "batch": 300})
            sender.start()
            sender.join(60)
            assert rt.alerts.query()[0] > 0, rt.engine.counters
            page.wait_for_selector("li.alert", timeout=30000)  # pushed over SSE, no reload
            assert not errors
            end = time.time() + 60  # every alert raised so far has reached the page over SSE
            while time.time() < end:
                total = rt.alerts.query()[0]
                if not rt.source.depth and page.locator("#n-alerts").text_content() == str(total):
                    break
                time.sleep(0.2)
            assert page.locator("#n-alerts").text_content() == str(rt.alerts.query()[0])
            assert page.locator("li.alert").count() >= 5
            alert_id = page.locator("li.alert").first.get_attribute("data-alert-id")
            first = page.locator(f'li.alert[data-alert-id="{alert_id}"]')
            first.locator("summary").click()
            assert first.locator(".reasons tr").count() >= 3  # observed + expected activities
            assert "raw events" in first.inner_text().lower()
            page.wait_for_selector("#timeline circle", timeout=15000)
            page.wait_for_selector("#users tbody tr", timeout=15000)
            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=False)
            if os.environ.get("NW_SCREENSHOT"):
                shutil.copy(shot, os.environ["NW_SCREENSHOT"])
            assert shot.stat().st_size > 10_000
            first.locator("button.dismiss").click()
            page.wait_for_selector(f'li.alert[data-alert-id="{alert_id}"]', state="detached", timeout=10000)
            end = time.time() + 10
            while rt.alerts.get(alert_id)["status"] != "dismissed" and time.time() < end:
                time.sleep(0.05)
            assert rt.alerts.get(alert_id)["status"] == "dismissed"
            page.select_option("#status-filter", "dismissed")
            assert page.locator(f'li.alert[data-alert-id="{alert_id}"]').count() == 1
        finally:
            browser.close()
