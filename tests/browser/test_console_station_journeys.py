"""The liaison station's home page in Chromium: what is waiting for it (a worker without an
intake survey, one surveyed but not enrolled, one in a class starting within the week) and
its workers' journeys, paged, with the stage badges and the attendance percentage moving on
as training's and assessment's events arrive; another station sees none of them. Enrolment
runs as a process on the embedded PostgreSQL and broker; the other services' events are
published as their relays would, signed with the keys the launcher gave them."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By

from console.launch import start_console, stop_console, wait_console
from shared.calendar import programme_today
from shared.contracts import Envelope, Event
from shared.contracts.assessment import SkillLevelCertified
from shared.contracts.common import WorkSite
from shared.contracts.training import (
    AttendanceRecorded,
    ClassApproved,
    ClassCompleted,
    ClassScheduled,
    SessionPlan,
    TraineeOutcome,
)
from shared.eventsourcing.topics import events_topic
from shared.infra.ports import free_port_block
from shared.infra.signing_keys import private_keys
from songji.launcher import Launcher
from tests.browser.browser import Browser, chromium_or_fail
from tests.integration.test_skeleton_services import registration
from tests.orgs import FUKANG, auth, token
from tests.support import produce, signed

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ARTIFACTS = Path("tmp/artifacts/console-station-journeys")
CLASS_ID = "fk-journeys-1"
FIRST_DAY = programme_today() + timedelta(days=3)
FILLERS = 19  # with the three followed below, 22 workers: two pages of 20


class Bus:
    """Publishes other services' events onto the broker, signed as their relays sign."""

    def __init__(self, bootstrap: str, prefix: str, keys_folder: Path) -> None:
        self.bootstrap, self.prefix = bootstrap, prefix
        self.keys = private_keys(keys_folder)

    def send(self, service: str, stream: str, event: Event) -> None:
        envelope = Envelope(id=uuid.uuid4(), source=f"/songji/{service}", type=event.ce_type(),
                            subject=stream, time=datetime.now(UTC),
                            data=event.model_dump(mode="json"), schema_version=1,
                            correlation_id=f"c-{stream}")
        value, headers = signed(envelope, key=self.keys[service])
        asyncio.run(produce(self.bootstrap, events_topic(service, self.prefix), value,
                            key=stream.encode(), headers=headers))


def test_the_station_home_shows_its_tasks_and_its_workers_journeys(
        postgres_url: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    chromium_or_fail()
    artifacts = ARTIFACTS.resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    for old in artifacts.glob("*.png"):
        old.unlink()
    print(f"\nscreenshots of the station's home page: {artifacts}")
    launcher = Launcher(postgres_url=postgres_url, kafka_bootstrap=kafka_bootstrap,
                        state_dir=tmp_path, topic_prefix=topic_prefix,
                        database_prefix=topic_prefix)
    console = browser = None
    try:
        urls = {n: p.url for n, p in asyncio.run(launcher.start(["enrolment"])).items()}
        port = free_port_block(1)
        console = start_console(tmp_path, urls, port)
        site = f"http://127.0.0.1:{port}"
        wait_console(console, site)
        bus = Bus(kafka_bootstrap, topic_prefix, tmp_path)
        workers = set_up(urls["enrolment"], bus)
        browser = Browser(tmp_path / "profile", artifacts, tmp_path / "downloads")
        play(browser, site, bus, workers)
        assert browser.violations == {}, json.dumps(browser.violations, ensure_ascii=False,
                                                    indent=1)
    finally:
        if browser is not None:
            browser.quit()
        if console is not None:
            stop_console(console)
        launcher.stop()


def set_up(enrolment: str, bus: Bus) -> dict[str, str]:
    """The open class, and the station's workers: one registered only, one surveyed, one
    enrolled (with half the required minutes attended so far), and fillers."""
    stream = f"class-{CLASS_ID}"
    bus.send("training", stream, ClassScheduled(
        class_id=CLASS_ID, institution_id="inst-1", occupation_code="electrician",
        target_level=4, site=WorkSite(**FUKANG), mode="night", capacity=30,
        required_minutes=240, sessions=[SessionPlan(
            session_id=f"s00{n + 1}", date=FIRST_DAY + timedelta(days=n), start_local="19:00",
            end_local="21:00", kind="classroom_theory", minutes=120) for n in (0, 1)]))
    bus.send("training", stream, ClassApproved(class_id=CLASS_ID,
                                               approved_on=programme_today()))
    station = auth("station-fukang")
    with httpx.Client(base_url=enrolment, headers=station, timeout=30) as client:
        def register(serial: int) -> str:
            answer = client.post("/workers", json=registration(serial))
            assert answer.status_code == 201, answer.text
            return answer.json()["worker_id"]

        workers = {role: register(5100 + n)
                   for n, role in enumerate(("unsurveyed", "surveyed", "enrolled"))}
        for filler in range(FILLERS):  # registered, never surveyed
            workers[f"filler-{filler}"] = register(5200 + filler)
        for role in ("surveyed", "enrolled"):
            answer = client.post(f"/workers/{workers[role]}/intake-surveys",
                                 headers={"Idempotency-Key": f"survey-{role}"},
                                 json={"desired_occupations": ["electrician"],
                                       "availability": ["night"],
                                       "earliest_start": FIRST_DAY.isoformat()})
            assert answer.status_code == 201, answer.text
        deadline = time.monotonic() + 60
        while True:  # until enrolment has heard of the class from the bus
            answer = client.post("/enrolments", headers={"Idempotency-Key": "enrol"},
                                 json={"worker_id": workers["enrolled"], "class_id": CLASS_ID})
            if answer.status_code == 201 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert answer.status_code == 201, answer.text
    bus.send("training", stream, AttendanceRecorded(
        attendance_id="att-1", class_id=CLASS_ID, session_id="s001", session_date=FIRST_DAY,
        worker_id=workers["enrolled"], minutes=120, method="face_check"))
    return workers


def row_of(b: Browser, worker_id: str) -> str:
    rows = b.driver.find_elements(By.CSS_SELECTOR, f'#journey-list tr[data-worker="{worker_id}"]')
    return rows[0].text if rows else ""


def until_shown(b: Browser, url: str, shown: Callable[[], bool], seconds: float = 60) -> None:
    """Reload ``url`` until ``shown()`` (an event from the bus reaches enrolment a moment
    after it is sent)."""
    deadline = time.monotonic() + seconds
    while True:
        b.open(url)
        if shown():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not shown after {seconds}s: {b.text()}")
        time.sleep(0.5)


def play(b: Browser, site: str, bus: Bus, workers: dict[str, str]) -> None:
    b.open(f"{site}/signin")
    b.fill({"token": token("station-fukang")})
    b.submit("signin")
    enrolled = workers["enrolled"]
    # 22 workers in worker-id order (random ids): any of them may be on the second page, so
    # each is looked for on its stage's page
    until_shown(b, f"{site}/station?stage=enrolled", lambda: "50%" in row_of(b, enrolled))
    b.open(f"{site}/station")
    b.check("station-home-journeys")

    # The task queue: each worker under the task that waits for them.
    queue = b.by_id("task-queue").text
    # The queue shows the first five waiting for a survey (by site, then worker id): five of
    # the unsurveyed worker and the fillers, whichever ids come first.
    waiting_survey = {workers["unsurveyed"]} | {
        worker for role, worker in workers.items() if role.startswith("filler-")}
    lines = queue.splitlines()
    shown = lines[lines.index("已登记、未做意向调查") + 1:lines.index("查看全部")]
    assert len(shown) == 5 and set(shown) <= waiting_survey, queue
    assert "已调查、未报名" in queue and workers["surveyed"] in queue, queue
    assert "一周内开课的报名" in queue and CLASS_ID in queue, queue
    assert "查看全部" in queue  # more than five are waiting for a survey (the fillers)

    # The journeys: stage badges, the class, its first day and the live attendance.
    b.open(f"{site}/station?stage=enrolled")
    row = row_of(b, enrolled)
    assert "已报名" in row and CLASS_ID in row and FIRST_DAY.isoformat() in row, row
    b.open(f"{site}/station?stage=surveyed")
    assert "已调查" in row_of(b, workers["surveyed"])
    b.open(f"{site}/station?stage=registered")  # the unsurveyed and the fillers: 20
    assert "已登记" in row_of(b, workers["unsurveyed"])
    b.open(f"{site}/station")
    first_page = {r.get_attribute("data-worker") for r in
                  b.driver.find_elements(By.CSS_SELECTOR, "#journey-list tbody tr")}
    assert len(first_page) == 20, first_page
    b.submit("journey-next")
    second_page = {r.get_attribute("data-worker") for r in
                   b.driver.find_elements(By.CSS_SELECTOR, "#journey-list tbody tr")}
    assert len(second_page) == 2 and not first_page & second_page, second_page
    assert not b.driver.find_elements(By.ID, "journey-next")
    b.check("station-home-journeys-page-2")

    # The class completes and the worker is certified: the badge and the final figures.
    stream = f"class-{CLASS_ID}"
    bus.send("training", stream, ClassCompleted(
        class_id=CLASS_ID, institution_id="inst-1", occupation_code="electrician",
        target_level=4, site=WorkSite(**FUKANG), first_session_date=FIRST_DAY,
        completed_on=FIRST_DAY + timedelta(days=1), threshold_percent=80, trainees=[
            TraineeOutcome(worker_id=enrolled, attended_minutes=228, required_minutes=240,
                           attendance_ratio=0.95, met_threshold=True)]))
    bus.send("assessment", "assessment-fk-1", SkillLevelCertified(
        certificate_id="cert-fk-1", certificate_number="YNSK-2026-000001-00",
        worker_id=enrolled, occupation_code="electrician", level=4, body_id="body-1",
        assessment_id="fk-1", class_id=CLASS_ID, certified_on=FIRST_DAY + timedelta(days=2)))
    # the two facts come on two topics, read by two consumers: either may be seen first
    until_shown(b, f"{site}/station?stage=certified",
                lambda: "已取证" in row_of(b, enrolled) and "95%" in row_of(b, enrolled))
    row = row_of(b, enrolled)
    assert "95%" in row and "✓" in row, row
    assert len(b.driver.find_elements(By.CSS_SELECTOR, "#journey-list tbody tr")) == 1
    b.check("station-home-certified")

    # English second: the same list, in English.
    b.open(f"{site}/language/en")
    b.open(f"{site}/station?stage=certified")
    assert "Certified" in row_of(b, enrolled) and "Our workers' journeys" in b.text()
    b.open(f"{site}/language/zh-CN")

    # Another station sees none of these workers.
    b.submit("signout")
    b.open(f"{site}/signin")
    b.fill({"token": token("station-putuo")})
    b.submit("signin")
    b.open(f"{site}/station")
    assert not b.driver.find_elements(By.CSS_SELECTOR, "#journey-list tbody tr")
    assert enrolled not in b.text()
