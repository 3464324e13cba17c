"""The Fukang journey played through the console's pages in Chromium, against the five
services running as processes on the embedded PostgreSQL and broker: the station registers
and enrols a worker, the institution takes the register and completes the class, the
assessment body enters scores, the HR bureau approves a batch, lets the public notice run
(test clock), downloads the bank file and confirms the payment. Every page is screenshotted
(the folder is printed) and checked with axe-core."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By

from console.accounts import write_users_file
from console.launch import start_console, stop_console, wait_console
from shared.auth.tokens import ENV_INLINE, hash_token
from shared.infra.ports import free_port_block
from songji.launcher import Launcher
from tests.browser.browser import Browser, chromium_or_fail
from tests.browser.editors import fill_session_row, swap_rows
from tests.integration.test_skeleton_services import national_id
from tests.orgs import auth, organisations_json, token

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(360)]

CLASS_ID = "fk-console-1"
SESSIONS = (("2025-08-04", "19:30", "22:00", "classroom_theory"),
            ("2025-08-05", "19:30", "22:00", "practical_on_the_job"))
ARTIFACTS = Path("tmp/artifacts/console")
UNION_TOKEN = "test-token-of-union"  # the trade union, which tests/orgs.py does not have
WOMENS_TOKEN = "test-token-of-womens-federation"  # nor the women's federation


@pytest.fixture(autouse=True)
def with_the_union(organisations: None, monkeypatch: pytest.MonkeyPatch) -> None:
    orgs = json.loads(organisations_json())
    orgs.append({"org_id": "union", "role": "union", "token_sha256": hash_token(UNION_TOKEN)})
    orgs.append({"org_id": "womens-federation", "role": "womens_federation",
                 "token_sha256": hash_token(WOMENS_TOKEN)})
    monkeypatch.setenv(ENV_INLINE, json.dumps(orgs))


def set_up_programme(urls: dict[str, str]) -> None:
    """What the console has no pages for yet: accrediting the institution and registering the
    assessment body and its assessors (one of them tied to the institution)."""
    with httpx.Client(timeout=30) as client:
        accredited = client.post(f"{urls['training']}/institutions", headers=auth("hr"), json={
            "institution_id": "inst-1", "name": "云南某职业技能培训学校",
            "occupations": ["electrician"],
            "sites": [{"province": "新疆", "city": "阜康市", "site_name": "阜康工业园"}],
            "partners": []})
        assert accredited.status_code in (200, 201, 204), accredited.text
        body = client.post(f"{urls['assessment']}/bodies", headers=auth("hr"), json={
            "body_id": "body-1", "name": "云南省职业技能鉴定中心", "code": "YNSK"})
        assert body.status_code in (200, 201, 204), body.text
        for assessor, ties in (("assessor-xj-1", []), ("assessor-xj-3", ["inst-1"])):
            added = client.post(f"{urls['assessment']}/bodies/body-1/assessors",
                                headers=auth("org-body-1"),
                                json={"assessor_id": assessor, "affiliations": ties})
            assert added.status_code in (200, 201, 204), added.text


def test_fukang_journey_through_the_console(
        postgres_url: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    chromium_or_fail()
    artifacts = ARTIFACTS.resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    for old in artifacts.glob("*.png"):
        old.unlink()
    print(f"\nscreenshots of the console's pages: {artifacts}")
    launcher = Launcher(postgres_url=postgres_url, kafka_bootstrap=kafka_bootstrap,
                        state_dir=tmp_path, topic_prefix=topic_prefix,
                        database_prefix=topic_prefix, extra_env={"SONGJI_TEST_CLOCK": "true"})
    # The station signs in with a username and password the users file maps to it.
    tokens_file = tmp_path / "console-tokens.env"
    tokens_file.write_text(f"station-fukang={token('station-fukang')}\n")
    users_file = tmp_path / "console-users.json"
    write_users_file(users_file, {"liaison-7": ("station-fukang", "阜康 station pw")})
    console = browser = None
    try:
        urls = {n: p.url for n, p in asyncio.run(launcher.start()).items()}
        port = free_port_block(1)
        console = start_console(tmp_path, urls, port, {
            "SONGJI_CONSOLE_USERS_FILE": str(users_file),
            "SONGJI_CONSOLE_TOKENS_FILE": str(tokens_file)})
        site = f"http://127.0.0.1:{port}"
        wait_console(console, site)
        set_up_programme(urls)
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


def sign_in(b: Browser, site: str, org: str | None = None, *,
            username: str = "", password: str = "") -> None:
    b.open(f"{site}/signin")
    if org:
        b.fill({"token": {"union": UNION_TOKEN, "womens-federation": WOMENS_TOKEN}.get(
            org) or token(org)})
    else:
        b.fill({"username": username, "password": password})
    b.submit("signin")
    assert "当前机构" in b.text() or "当前机构" in b.driver.page_source, b.text()


def sign_out(b: Browser) -> None:
    b.submit("signout")
    assert "/signin" in b.driver.current_url


def play(b: Browser, site: str) -> None:
    # Sign-in: a wrong token is refused; the page is in Chinese first.
    b.open(f"{site}/signin")
    assert "登录" in b.text()
    b.check("signin")
    b.fill({"token": "not-a-token"})
    b.submit("signin")
    assert "令牌或用户名、密码不正确" in b.text()

    # HR bureau: publishes the funding policy (its recompute job's progress shown), allocates
    # the budget.
    sign_in(b, site, "hr")
    b.submit("publish")
    b.driver.implicitly_wait(0)
    deadline = time.monotonic() + 30
    while "done" not in b.text_of("job-state") and time.monotonic() < deadline:
        time.sleep(0.3)
    assert b.text_of("job-state") == "done", b.text()
    b.check("hr-policy-job")
    b.open(f"{site}/hr")
    b.fill({"allocation_id": "alloc-console-1", "amount_yuan": "50000.00"})
    b.submit("allocate")
    assert "50,000.00" in b.by_id("budget").text, b.text()
    sign_out(b)

    # Institution: schedules the class with its two sessions.
    sign_in(b, site, "org-inst-1")
    b.check("institution-home")
    b.fill({"class_id": CLASS_ID, "required_minutes": "300"})
    fill_session_row(b, 0, *SESSIONS[0])
    swap_rows(b, "add-session", "session-1-date")
    fill_session_row(b, 1, *SESSIONS[1])
    b.submit("schedule")
    assert CLASS_ID in b.text(), b.text()
    sign_out(b)

    # HR bureau: approves it.
    sign_in(b, site, "hr")
    b.fill({"approve_class_id": CLASS_ID})
    b.submit("approve")
    assert CLASS_ID in b.flash() and "被拒绝" not in b.flash(), b.flash()
    b.check("hr-home")
    sign_out(b)

    # Liaison station (username and password): registers a worker, the ID number's check
    # digit checked as it is typed.
    sign_in(b, site, username="liaison-7", password="阜康 station pw")
    number = national_id(4101)
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    b.fill({"national_id": wrong})
    time.sleep(0.6)
    b.settled()
    assert "校验位错误" in b.by_id("id-check").text
    b.fill({"national_id": number})
    time.sleep(0.6)
    b.settled()
    assert "校验位正确" in b.by_id("id-check").text
    b.check("station-register")
    b.fill({"name": "马建国", "mobile": "13912344101", "hometown_township": "翠华镇",
            "employer": "阜康某电力安装公司"})
    b.submit("register")
    found = re.search(r"人员编号 (\S+)", b.flash())
    assert found, b.flash()
    worker_id = found.group(1)
    b.fill({"survey_worker": worker_id})
    b.submit("survey")
    assert "survey_id" in b.flash(), b.flash()

    def enrol() -> None:
        b.fill({"enrol_worker": worker_id, "enrol_class": CLASS_ID})
        b.submit("enrol")

    b.until(enrol, lambda: "enrolment_id" in b.flash())
    b.check("station-enrolled")
    # found again by the ID number, exactly: the worker's record with the enrolment
    b.fill({"lookup_national_id": number})
    b.submit("lookup")
    assert worker_id in b.text() and CLASS_ID in b.text(), b.text()
    b.check("station-record")
    sign_out(b)

    # Institution: the session register, both sessions, each in one request; completion.
    sign_in(b, site, "org-inst-1")
    b.open(f"{site}/institution/classes/{CLASS_ID}")

    def roster_has_worker() -> None:
        b.open(f"{site}/institution/classes/{CLASS_ID}")

    b.until(roster_has_worker, lambda: worker_id in b.text())
    for session_id in ("s001", "s002"):
        b.fill({"session_id": session_id})
        b.submit("submit-register")
        assert "recorded" in b.by_id("register-outcome").text, b.text()
    b.check("institution-register")
    b.submit("complete")
    assert "是" in b.by_id("completion").text, b.text()
    b.check("institution-completed")
    sign_out(b)

    # Assessment body: an assessor tied to the institution must recuse (shown plainly); then
    # the assessment is scheduled and the scores entered; the certificate is issued.
    sign_in(b, site, "org-body-1")
    b.fill({"assessment_id": "as-console-1", "class_id": CLASS_ID,
            "assessor_ids": "assessor-xj-1, assessor-xj-3"})
    b.until(lambda: b.submit("schedule"), lambda: "assessor_must_recuse" in b.flash())
    assert "回避" in b.flash(), b.flash()
    b.check("body-recusal")
    b.fill({"assessment_id": "as-console-1", "class_id": CLASS_ID,
            "assessor_ids": "assessor-xj-1"})
    b.submit("schedule")
    assert "as-console-1" in b.flash(), b.flash()
    b.fill({"worker-1": worker_id, "theory-1": "82", "practical-1": "90"})
    b.submit("save-scores")
    assert worker_id in b.by_id("certificates").text, b.text()
    b.check("body-certificates")
    sign_out(b)

    # HR bureau: the ledger (filtered), the batch, the notice, the bank file, the payment.
    sign_in(b, site, "hr")
    b.until(lambda: b.open(f"{site}/hr/ledger?class_id={CLASS_ID}&status=due"),
            lambda: b.text().count("due") >= 2)
    ledger = b.by_id("ledger").text
    assert "living_subsidy" in ledger and "training_subsidy" in ledger, ledger
    b.check("hr-ledger")
    living_line = next(
        row.find_elements(By.TAG_NAME, "td")[1].text
        for row in b.by_id("ledger").find_elements(By.CSS_SELECTOR, "tbody tr")
        if "living_subsidy" in row.text)
    b.fill({"batch_id": "batch-console-1"})
    b.submit("approve-batch")
    assert "batch-console-1" in b.text(), b.text()
    sign_out(b)

    # The trade union questions the living subsidy during the public notice; the HR bureau
    # dismisses the objection, so the line stays in the batch.
    sign_in(b, site, "union")
    b.fill({"batch_id": "batch-console-1", "objection_id": "obj-console-1",
            "line_id": living_line})
    b.submit("object")
    assert "已提交" in b.flash(), b.flash()
    b.check("union-objection")
    sign_out(b)
    sign_in(b, site, "hr")
    b.open(f"{site}/hr/batches/batch-console-1")
    assert "obj-console-1" in b.by_id("objections").text, b.text()
    b.submit("dismiss-1")
    assert "dismissed" in b.by_id("objections").text, b.text()
    b.submit("move-clock")
    b.check("hr-batch")
    payees = [line.split(",")[0] for line in b.by_id("accounts").get_attribute("value").split()]
    b.fill({"accounts": "\n".join(f"{p},马建国,6217000000000004101,RCCYN" for p in payees)})
    b.by_id("issue").click()
    deadline = time.monotonic() + 20
    while not list(b.downloads.glob("*.txt")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(b.downloads.glob("*.txt")), "no bank file downloaded"
    b.open(f"{site}/hr/batches/batch-console-1")
    b.fill({"bank_reference": "RCC-console-0001"})
    b.submit("confirm")
    assert "被拒绝" not in b.flash(), b.flash()
    assert "paid" in b.by_id("batch-lines").text, b.text()
    b.check("hr-paid")
    sign_out(b)

    # The oversight pages: the media centre's charts (one certificate: too few to show), the
    # women's federation's page (its follow-up list: the notices addressed to it), the
    # auditor's view of the services and how to verify the chains.
    sign_in(b, site, "media")
    assert "人数过少" in b.by_id("by-level").text, b.text()
    b.check("media-statistics")
    sign_out(b)
    sign_in(b, site, "womens-federation")
    followups = b.by_id("followups").text
    assert "人社局和审计" not in followups and "拒绝" not in followups, b.text()
    b.check("womens-federation")
    sign_out(b)
    sign_in(b, site, "auditor")
    assert "songji audit verify" in b.by_id("verify").text, b.text()
    assert "database: 是" in b.by_id("store-funding").text, b.text()
    b.check("auditor")
    sign_out(b)
    sign_in(b, site, "hr")

    # English is a switch away.
    b.open(f"{site}/language/en")
    b.open(f"{site}/hr")
    assert "Waiting for you" in b.text(), b.text()
    b.check("hr-home-english")
