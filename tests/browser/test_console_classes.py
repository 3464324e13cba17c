"""The classes in the console, in Chromium, against the services running as processes: the
institution's home lists its own classes a page at a time (never another institution's) with
its task queue; the HR bureau's task queue lists every institution's classes waiting for
approval and approves one with its button; the approved class then waits to be completed on
the institution's page; the media centre charts the classes. Every page is screenshotted and
checked with axe-core."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By

from console.launch import start_console, stop_console, wait_console
from console.pages_institution import CLASSES_PER_PAGE
from shared.infra.ports import free_port_block
from songji.launcher import Launcher
from tests.browser.browser import Browser, chromium_or_fail
from tests.browser.test_console_journey import sign_in, sign_out
from tests.orgs import FUKANG, auth

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ARTIFACTS = Path("tmp/artifacts/console-classes")
OWN = [f"cl-{i:02d}" for i in range(1, CLASSES_PER_PAGE + 2)]  # one more than a page
OTHERS = "cl-other-1"  # inst-2's


def a_class(class_id: str, institution_id: str) -> dict[str, Any]:
    return {"class_id": class_id, "institution_id": institution_id,
            "occupation_code": "electrician", "target_level": 4, "site": FUKANG,
            "mode": "night", "capacity": 40, "required_minutes": 150, "sessions": [
                {"date": "2025-08-04", "start_local": "19:30", "end_local": "22:00",
                 "kind": "classroom_theory"}]}


def set_up_classes(urls: dict[str, str]) -> None:
    """Two institutions accredited, and their classes scheduled through training's API."""
    with httpx.Client(base_url=urls["training"], timeout=30) as client:
        for institution in ("inst-1", "inst-2"):
            accredited = client.post("/institutions", headers=auth("hr"), json={
                "institution_id": institution, "name": f"培训学校 {institution}",
                "occupations": ["electrician"], "sites": [FUKANG], "partners": []})
            assert accredited.status_code == 204, accredited.text
        for class_id, institution, org in ([(c, "inst-1", "org-inst-1") for c in OWN]
                                           + [(OTHERS, "inst-2", "org-inst-2")]):
            scheduled = client.post("/classes", headers=auth(org),
                                    json=a_class(class_id, institution))
            assert scheduled.status_code == 204, scheduled.text


def test_the_institutions_classes_and_the_hr_approval_queue(
        organisations: None, postgres_url: str, kafka_bootstrap: str, topic_prefix: str,
        tmp_path: Path) -> None:
    chromium_or_fail()
    artifacts = ARTIFACTS.resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    for old in artifacts.glob("*.png"):
        old.unlink()
    print(f"\nscreenshots of the console's class pages: {artifacts}")
    launcher = Launcher(postgres_url=postgres_url, kafka_bootstrap=kafka_bootstrap,
                        state_dir=tmp_path, topic_prefix=topic_prefix,
                        database_prefix=topic_prefix)
    console = browser = None
    try:
        urls = {n: p.url for n, p in asyncio.run(launcher.start()).items()}
        port = free_port_block(1)
        console = start_console(tmp_path, urls, port, {})
        site = f"http://127.0.0.1:{port}"
        wait_console(console, site)
        set_up_classes(urls)
        browser = Browser(tmp_path / "profile", artifacts, tmp_path / "downloads")
        play(browser, site)
        assert browser.violations == {}, json.dumps(browser.violations, ensure_ascii=False,
                                                    indent=1)
    finally:
        if browser is not None:
            browser.quit()
        if console is not None:
            stop_console(console)
        launcher.stop()


def listed(b: Browser, table_id: str) -> list[str]:
    """The class ids in the first column of a table's rows."""
    return [row.find_elements(By.TAG_NAME, "td")[0].text
            for row in b.by_id(table_id).find_elements(By.CSS_SELECTOR, "tbody tr")]


def play(b: Browser, site: str) -> None:
    # The institution: its own classes, a page at a time; all of them wait for approval.
    sign_in(b, site, "org-inst-1")
    assert listed(b, "classes") == OWN[:CLASSES_PER_PAGE], b.text()
    assert "待审批" in b.by_id("classes").text
    waiting = b.by_id("task-awaiting_approval").text
    assert all(c in waiting for c in OWN) and OTHERS not in waiting, waiting
    b.check("institution-classes")
    b.submit("classes-next")
    assert listed(b, "classes") == OWN[CLASSES_PER_PAGE:], b.text()
    assert OTHERS not in b.text()
    b.check("institution-classes-page-2")
    sign_out(b)

    # The HR bureau: every institution's classes wait in its queue; it approves two.
    sign_in(b, site, "hr")
    assert set(listed(b, "pending-classes")) == {*OWN, OTHERS}, b.text()
    b.check("hr-approval-queue")
    for class_id in (OTHERS, OWN[0]):
        b.submit(f"approve-{class_id}")
        assert class_id in b.flash() and "被拒绝" not in b.flash(), b.flash()
        assert class_id not in listed(b, "pending-classes"), b.text()
    assert set(listed(b, "pending-classes")) == set(OWN[1:])
    sign_out(b)

    # The institution again: the approved class is shown so, and (its one session held)
    # waits to be completed.
    sign_in(b, site, "org-inst-1")
    row = b.by_id("classes").find_elements(By.CSS_SELECTOR, "tbody tr")[0]
    assert OWN[0] in row.text and "已批准" in row.text, row.text
    assert OWN[0] in b.by_id("task-to_complete").text, b.text()
    assert OWN[0] not in b.by_id("task-awaiting_approval").text
    b.check("institution-tasks")
    sign_out(b)

    # The media centre: the classes charted by destination (22 classes in Fukang).
    sign_in(b, site, "media")
    destination = b.by_id("by-destination").text
    assert "开班数" in destination and "22" in destination, destination
    b.check("media-training")
    sign_out(b)
