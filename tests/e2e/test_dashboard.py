"""The dashboard in a real headless browser (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.local.side_process import ProjectorProcess
from streams.local.stack import MEDIA_BUCKET, LocalStack
from streams.local.worker_process import TOKENS, WorkerProcess
from tests.builders import alarm_json
from tests.e2e.helpers import RETENTION_SECONDS
from tests.kafka_helpers import produce

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# As the machine notes advise: without the background-networking flags chromium keeps dialling out.
BROWSER_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[*BROWSER_FLAGS],
        )
        yield instance
        instance.close()


def test_the_dashboard_shows_a_known_state_and_updates_itself(
    browser: Any, worker: WorkerProcess, projector: ProjectorProcess, media_stack: LocalStack, artifacts: Path
) -> None:
    alarm_id = f"dash-{uuid.uuid4().hex[:8]}"
    held_alarm = f"dash-held-{uuid.uuid4().hex[:6]}"
    triggered_at = datetime.now(UTC)
    records = [
        (a.encode(), alarm_json(a, [f"{a}/a.jpg", f"{a}/b.jpg"], bucket=MEDIA_BUCKET, at=triggered_at))
        for a in (alarm_id, held_alarm)
    ]
    # Playwright's sync API keeps an event loop running in this thread; produce from another one.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, produce(media_stack.kafka_bootstrap, "alarm-events", records)).result()

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{worker.url}/")
    page.wait_for_selector("#login:not([hidden])")  # no token yet: the shell asks for one
    page.fill("#token", TOKENS["operator"])
    page.click("#login button")
    page.wait_for_selector(f"#upcoming td:text('{alarm_id}')", timeout=15_000)

    hold = httpx.post(
        f"{worker.url}/api/v1/holds",
        headers={"Authorization": f"Bearer {TOKENS['police-liaison']}"},
        json={"alarm_id": held_alarm, "case_reference": "2026-POL-DASH"},
        timeout=30,
    )
    assert hold.status_code == 201, hold.text
    page.wait_for_selector(f"#holds td:text('{hold.json()['hold_id']}')", timeout=15_000)
    # The wall screen names no case and no officer: that is a read of personal data, logged.
    assert "2026-POL-DASH" not in page.inner_text("#holds")
    assert "test-police-liaison" not in page.inner_text("#holds")
    assert int(page.inner_text("[data-figure=overdue]")) == 0
    assert not page.is_visible("#figure-overdue.alert")
    assert int(page.get_attribute("#chart", "data-total") or 0) >= 2
    # The archive's lag as the running projector reports it: a number, and no alarm.
    page.wait_for_function(
        "/^\\d+$/.test(document.querySelector('[data-figure=archive_lag_records]').innerText)", timeout=15_000
    )
    assert not page.is_visible("#figure-archive.alert")
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)

    # Counting down, then gone, without a reload.
    page.wait_for_function(
        f"!document.querySelector('#upcoming').innerText.includes('{alarm_id}')",
        timeout=(RETENTION_SECONDS + 15) * 1000,
    )
    assert datetime.now(UTC) >= triggered_at + timedelta(seconds=RETENTION_SECONDS)
    assert held_alarm in page.inner_text("#upcoming")  # held: still listed
    page.screenshot(path=str(artifacts / "dashboard-after-deletion.png"), full_page=True)
    page.close()


def test_a_wrong_token_brings_back_the_login(browser: Any, worker: WorkerProcess) -> None:
    page = browser.new_page()
    page.goto(f"{worker.url}/#token=rt_not-a-token")
    page.wait_for_selector("#login:not([hidden])", timeout=10_000)
    assert "not valid" in page.inner_text("#status")
    page.close()
