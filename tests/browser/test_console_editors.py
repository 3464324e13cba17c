"""The console's form editors in Chromium, against the services running as processes: the HR
bureau publishes a policy version through its form (filled in from the example, an uplift
refused beside its field, a rate added in yuan, sent in fen), then watches the recompute
job; the institution schedules a class with the sessions rows editor (rows added and removed
in place, an overlap refused beside its row); the console restarts and the institution is
still signed in, until it signs out. Every page is checked with axe-core."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from console.launch import start_console, stop_console, wait_console
from shared.infra.ports import free_port_block
from songji.launcher import Launcher
from tests.browser.browser import Browser, chromium_or_fail
from tests.browser.editors import fill_session_row, swap_rows
from tests.browser.test_console_journey import set_up_programme
from tests.orgs import auth, token

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

CLASS_ID = "fk-editors-1"
ARTIFACTS = Path("tmp/artifacts/console-editors")


def test_the_sessions_editor_and_the_policy_form(
        postgres_url: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    chromium_or_fail()
    artifacts = ARTIFACTS.resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    for old in artifacts.glob("*.png"):
        old.unlink()
    print(f"\nscreenshots of the console's pages: {artifacts}")
    launcher = Launcher(postgres_url=postgres_url, kafka_bootstrap=kafka_bootstrap,
                        state_dir=tmp_path, topic_prefix=topic_prefix,
                        database_prefix=topic_prefix)
    console = browser = None
    try:
        urls = {n: p.url for n, p in asyncio.run(launcher.start()).items()}
        port = free_port_block(1)
        site = f"http://127.0.0.1:{port}"
        console = start_console(tmp_path, urls, port)
        wait_console(console, site)
        set_up_programme(urls)
        browser = Browser(tmp_path / "profile", artifacts, tmp_path / "downloads")
        publish_policy(browser, site, urls["funding"])
        schedule_class(browser, site)
        # The console restarts (same state folder): the institution is still signed in.
        stop_console(console)
        console = start_console(tmp_path, urls, port)
        wait_console(console, site)
        browser.open(f"{site}/institution/classes/{CLASS_ID}")
        assert "当前机构" in browser.driver.page_source and CLASS_ID in browser.text(), \
            browser.text()
        browser.submit("signout")
        browser.open(f"{site}/institution")
        assert not browser.driver.find_elements("id", "signout") and \
            browser.by_id("token"), browser.text()
        assert browser.violations == {}, json.dumps(browser.violations, ensure_ascii=False,
                                                    indent=1)
    finally:
        if browser is not None:
            browser.quit()
        if console is not None:
            stop_console(console)
        launcher.stop()


def sign_in(b: Browser, site: str, org: str) -> None:
    b.open(f"{site}/signin")
    b.fill({"token": token(org)})
    b.submit("signin")
    assert "当前机构" in b.driver.page_source, b.text()


def publish_policy(b: Browser, site: str, funding: str) -> None:
    sign_in(b, site, "hr")
    # No version yet: the form holds the example policy, in yuan.
    assert b.by_id("policy_id").get_attribute("value") == "luquan-2025"
    assert "." in b.by_id("rate-0-amount").get_attribute("value")
    swap_rows(b, "add-uplift", "uplift-1-percent")
    b.fill({"uplift-1-percent": "60", "uplift-1-occupation": "electrician"})
    b.submit("publish")
    assert "上浮不得超过 50%" in b.by_id("err-uplift-1-percent").text, b.text()
    assert b.by_id("uplift-1-percent").get_attribute("aria-invalid") == "true"
    b.check("policy-form-refused")
    rates = len(b.driver.find_elements("css selector", "#rates-editor fieldset.row"))
    swap_rows(b, "add-rate", f"rate-{rates}-occupation")
    b.fill({"uplift-1-percent": "10", f"rate-{rates}-occupation": "boiler_operator",
            f"rate-{rates}-level": "3", f"rate-{rates}-amount": "1,234.56"})
    b.check("policy-form-filled")
    b.submit("publish")
    deadline = time.monotonic() + 60
    while "done" not in b.text_of("job-state") and time.monotonic() < deadline:
        time.sleep(0.3)
    assert b.text_of("job-state") == "done", b.text()
    b.check("policy-job-done")
    # What funding holds: fen on the wire, the uplift as typed.
    policies = httpx.get(f"{funding}/policies", headers=auth("hr"), timeout=30).json()
    newest = policies[-1]
    assert {"occupation_code": "boiler_operator", "level": 3, "amount_fen": 123456} in \
        newest["training_subsidies"], newest
    assert {"percent": 10, "occupation_code": "electrician", "province": None,
            "city": None} in newest["uplifts"], newest
    b.open(f"{site}/hr")
    assert b.by_id("rate-0-amount").get_attribute("value"), b.text()
    assert f"第 {newest['version']} 版" in b.text(), b.text()
    b.submit("signout")


def schedule_class(b: Browser, site: str) -> None:
    sign_in(b, site, "org-inst-1")
    b.fill({"class_id": CLASS_ID, "required_minutes": "300"})
    fill_session_row(b, 0, "2025-08-04", "19:30", "22:00")
    swap_rows(b, "add-session", "session-1-date")
    # the first row kept what was typed when the editor was swapped
    assert b.by_id("session-0-start").get_attribute("value") == "19:30"
    fill_session_row(b, 1, "2025-08-04", "21:00", "23:00", "practical_on_the_job")
    swap_rows(b, "add-session", "session-2-date")
    swap_rows(b, "remove-session-2", "session-2-date", present=False)
    b.submit("schedule")
    assert "与同日另一课次时间重叠" in b.by_id("err-session-1-start").text, b.text()
    b.check("sessions-editor-refused")
    fill_session_row(b, 1, "2025-08-05", "19:30", "22:00", "practical_on_the_job")
    b.check("sessions-editor-filled")
    b.submit("schedule")
    assert f"班级 {CLASS_ID}" in b.text() and "已完成" in b.flash(), b.text()
    b.check("class-scheduled")
