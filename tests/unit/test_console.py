"""The console's pure pieces and its sign-in, without services: the ID check digit as typed,
money and dates, password hashes, session expiry, cookie flags, CSRF and sign-out."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from console import charts, i18n, pages_institution, sessions
from console.accounts import Accounts, SignedIn, hash_password, password_matches, write_users_file
from console.app import create_app
from console.pages_hr import parse_accounts
from console.pages_institution import read_class_form, task_queue
from console.pages_station import id_check
from console.services import Refused
from console.settings import ConsoleSettings
from services.enrolment.domain.national_id import check_digit
from shared.auth.tokens import OrganisationRegistry, hash_token, parse_organisations
from tests.orgs import organisations_json, token


def test_id_check_agrees_with_enrolments_check_digit() -> None:
    first17 = "53212819900101001"
    right = first17 + check_digit(first17)
    assert id_check(right) == "ok"
    assert id_check(right.lower()) == "ok"
    wrong = first17 + ("0" if right[-1] != "0" else "1")
    assert id_check(wrong) == "bad"
    assert id_check(right[:10]) == "short"
    assert id_check("A" * 18) == "bad"


def test_money_in_yuan_with_two_decimals_and_back() -> None:
    assert i18n.yuan(123456) == "1,234.56"
    assert i18n.yuan(5) == "0.05"
    assert i18n.yuan(-150) == "-1.50"
    assert i18n.fen_of("1,234.5") == 123450
    assert i18n.fen_of("50000") == 5000000
    for bad in ("1.234", "-1", "abc", ""):
        with pytest.raises(ValueError):
            i18n.fen_of(bad)


def test_instants_are_shown_in_shanghai() -> None:
    assert i18n.local_time("2025-08-04T11:30:00+00:00") == "2025-08-04 19:30"
    assert i18n.local_time("2025-08-04") == "2025-08-04"


def test_refusals_say_the_code_in_chinese_and_keep_the_services_sentence() -> None:
    said = i18n.refusal_text("zh-CN", "assessor_must_recuse", "assessor-xj-3 is tied")
    assert "回避" in said and "assessor-xj-3 is tied" in said
    assert i18n.refusal_text("en", "assessor_must_recuse", "x") == "assessor_must_recuse: x"


def test_passwords_are_salted_scrypt_hashes() -> None:
    one, two = hash_password("secret"), hash_password("secret")
    assert one != two and "secret" not in one
    assert password_matches("secret", one) and not password_matches("Secret", one)
    assert not password_matches("secret", "garbage")


def test_forms_parse_sessions_and_accounts() -> None:
    body, _, form = read_class_form({
        "class_id": "c-1", "occupation": "electrician", "level": "4", "mode": "night",
        "province": "新疆", "city": "阜康市", "site_name": "阜康工业园", "capacity": "60",
        "required_minutes": "150", "session-0-date": "2025-08-04", "session-0-start": "19:30",
        "session-0-end": "22:00", "session-0-kind": "classroom_theory"}, "inst-1", "zh-CN")
    assert body is not None and body["sessions"] == [
        {"date": "2025-08-04", "start_local": "19:30:00", "end_local": "22:00:00",
         "kind": "classroom_theory"}], form.errors
    assert parse_accounts("w-1, 马, 6217000000001, RCC")["w-1"]["account_name"] == "马"


def test_a_session_expires_after_its_idle_time(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(sessions.time, "time", lambda: now[0])
    accounts = Accounts(_registry(), None, None)
    store = sessions.SessionStore(30, accounts.with_token)
    signed_in = SignedIn(accounts.with_token(token("hr")).identity, token("hr"))
    session_id, _ = store.start(signed_in)
    now[0] += 29 * 60
    assert store.get(session_id) is not None  # a request pushes the expiry back
    now[0] += 29 * 60
    assert store.get(session_id) is not None
    now[0] += 31 * 60
    assert store.get(session_id) is None


def _registry() -> OrganisationRegistry:
    return OrganisationRegistry(parse_organisations(organisations_json()))


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    users, tokens = tmp_path / "users.json", tmp_path / "tokens"
    write_users_file(users, {"liaison-7": ("station-fukang", "pw 7")})
    tokens.write_text(f"station-fukang={token('station-fukang')}\n")
    settings = ConsoleSettings(service_urls={"funding": "http://127.0.0.1:9"},
                               users_file=users, tokens_file=tokens)
    app = create_app(settings, Accounts(_registry(), users, tokens))
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def test_sign_in_sets_a_strict_httponly_cookie_and_sign_out_ends_it(client: TestClient) -> None:
    page = client.get("/signin")
    assert "登录" in page.text
    signed_in = client.post("/signin", data={"csrf": _csrf(page.text),
                                             "token": token("station-fukang")},
                            follow_redirects=False)
    assert signed_in.status_code == 303
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    home = client.get("/station")
    assert home.status_code == 200 and "station-fukang" in home.text
    # a form without the session's CSRF token is refused
    assert client.post("/station/enrolments", data={"worker_id": "w", "class_id": "c"}
                       ).status_code == 403
    client.post("/signout", data={"csrf": _csrf(home.text)})
    assert "登录" in client.get("/station").text


def test_password_sign_in_acts_as_the_mapped_organisation(client: TestClient) -> None:
    page = client.get("/signin")
    wrong = client.post("/signin", data={"csrf": _csrf(page.text), "username": "liaison-7",
                                         "password": "pw 8"})
    assert wrong.status_code == 401 and "不正确" in wrong.text
    page = client.get("/signin")
    right = client.post("/signin", data={"csrf": _csrf(page.text), "username": "liaison-7",
                                         "password": "pw 7"})
    assert right.status_code == 200 and "station-fukang" in right.text


def test_sign_in_without_its_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/signin")
    answer = client.post("/signin", data={"csrf": "forged", "token": token("hr")},
                         follow_redirects=False)
    assert answer.status_code != 303 and "set-cookie" not in {
        k.lower() for k in answer.headers if "songji_console=" in answer.headers[k]}


def test_the_pages_are_in_english_when_switched(client: TestClient) -> None:
    client.cookies.set("songji_console_lang", "en")
    assert "Sign in" in client.get("/signin").text


def test_cookies_are_secure_over_https(tmp_path: Path) -> None:
    settings = ConsoleSettings(service_urls={}, users_file=None, tokens_file=None)
    app = create_app(settings, Accounts(_registry(), None, None))
    with TestClient(app, base_url="https://console.example") as secure_client:
        page = secure_client.get("/signin")
        signed_in = secure_client.post("/signin", data={"csrf": _csrf(page.text),
                                                        "token": token("hr")},
                                       follow_redirects=False)
        assert "Secure" in signed_in.headers["set-cookie"]


def test_the_vendored_scripts_are_the_pinned_ones() -> None:
    """The files are what their VENDORED.txt says they are (version and hash)."""
    root = Path(__file__).parents[2]
    for script, note in ((root / "console/static/htmx.min.js",
                          root / "console/static/VENDORED.txt"),
                         (root / "tests/browser/vendor/axe.min.js",
                          root / "tests/browser/vendor/VENDORED.txt")):
        digest = hashlib.sha256(script.read_bytes()).hexdigest()
        assert f"sha256 {digest}" in note.read_text(), script


# -- the oversight pages, rendered over a stubbed services client ----------------------------

WOMENS_TOKEN = "test-token-of-womens-federation"


class StubServices:
    """Answers GETs from a table keyed by (service, path, params); a Refused is raised.
    Records what was asked, so a test sees which routes a page reads."""

    def __init__(self, answers: dict[tuple[str, str, tuple[tuple[str, str], ...]], object],
                 probes: dict[tuple[str, str], tuple[int, object]] | None = None) -> None:
        self.answers, self.probes = answers, probes or {}
        self.asked: list[tuple[str, str, str]] = []

    async def get(self, token: str, service: str, path: str,
                  params: dict[str, str] | None = None) -> object:
        self.asked.append((token, service, path))
        answer = self.answers[(service, path, tuple(sorted((params or {}).items())))]
        if isinstance(answer, Refused):
            raise answer
        return answer

    async def probe(self, token: str, service: str, path: str) -> tuple[int, object]:
        self.asked.append((token, service, path))
        found = self.probes.get((service, path))
        if found is None:
            raise Refused(503, "service_unreachable", service)
        return found


@pytest.fixture
def signed_in() -> Iterator[Callable[[str, StubServices], TestClient]]:
    """Signs an organisation in to a console whose services are the stub given."""
    with contextlib.ExitStack() as clients:
        yield lambda org_token, stub: _signed_in_client(clients, org_token, stub)


def _signed_in_client(clients: contextlib.ExitStack, org_token: str,
                      stub: StubServices) -> TestClient:
    orgs = json.loads(organisations_json())
    orgs.append({"org_id": "womens-federation", "role": "womens_federation",
                 "token_sha256": hash_token(WOMENS_TOKEN)})
    registry = OrganisationRegistry(parse_organisations(json.dumps(orgs)))
    # a state folder of its own: a replay verdict left in the checkout's .songji is not seen
    state = clients.enter_context(tempfile.TemporaryDirectory(prefix="songji-console-"))
    app = create_app(ConsoleSettings(service_urls={}, environ={"SONGJI_CONSOLE_STATE_DIR": state}),
                     Accounts(registry, None, None))
    test_client = clients.enter_context(TestClient(app, base_url="http://testserver"))
    app.state.services = stub
    page = test_client.get("/signin")
    answer = test_client.post("/signin", data={"csrf": _csrf(page.text), "token": org_token},
                              follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return test_client


ENROLMENTS = (
    [{"province": "新疆", "city": "阜康市", "site_name": "阜康工业园",
      "occupation_code": "electrician", "gender": "female", "level": 4, "workers": 4},
     {"province": "新疆", "city": "阜康市", "site_name": "二号园", "occupation_code": "electrician",
      "gender": "female", "level": 4, "workers": 3},
     {"province": "上海", "city": "普陀区", "site_name": "长征镇", "occupation_code": "welder",
      "gender": "male", "level": 5, "workers": 2}])
CERTIFICATES = [{"occupation_code": "electrician", "level": 4, "certificates": 6},
                {"occupation_code": "welder", "level": 5, "certificates": 1}]
CLASS_COUNTS = [
    {"province": "新疆", "city": "阜康市", "occupation_code": "electrician", "level": 4,
     "state": "approved", "classes": 2, "trainees": 40, "met_threshold": 0},
    {"province": "新疆", "city": "阜康市", "occupation_code": "electrician", "level": 4,
     "state": "completed", "classes": 1, "trainees": 30, "met_threshold": 27},
    {"province": "上海", "city": "普陀区", "occupation_code": "welder", "level": 3,
     "state": "completed", "classes": 1, "trainees": 4, "met_threshold": 3}]


def _outcomes(by: str) -> list[dict[str, object]]:
    return [{"group": f"{by}-big", "suppressed": False, "referred": 10, "placed": 7},
            {"group": f"{by}-small", "suppressed": True}]


def _statistics() -> dict[tuple[str, str, tuple[tuple[str, str], ...]], object]:
    answers: dict[tuple[str, str, tuple[tuple[str, str], ...]], object] = {
        ("enrolment", "/statistics/enrolments", ()): ENROLMENTS,
        ("assessment", "/statistics/certificates", ()): CERTIFICATES,
        ("training", "/statistics/classes", ()): CLASS_COUNTS}
    for by in ("destination", "occupation", "gender", "level"):
        answers[("employment", "/statistics/outcomes", (("by", by),))] = _outcomes(by)
    return answers


def _row(html: str, section: str, label: str) -> str:
    """The chart rows (one a chart) labelled ``label`` in the section ``section``."""
    part = html[html.index(f'id="{section}"'):]
    part = part[:part.index("</section>")]
    rows = [r for r in part.split("<tr>") if f'<th scope="row">{label}</th>' in r]
    assert rows, (label, part)
    return "".join(rows)


def test_charts_sum_groups_and_suppress_small_ones() -> None:
    totals = charts.summed(ENROLMENTS, charts.destination, "workers")
    assert totals == {"新疆 阜康市": 7, "上海 普陀区": 2}
    shown = charts.bars(totals)
    assert [(b.label, b.count, b.percent) for b in shown] == [
        ("上海 普陀区", None, 0.0), ("新疆 阜康市", 7, 100.0)]


def test_the_media_centre_sees_the_programme_in_charts_with_small_groups_suppressed(
        signed_in: Callable[[str, StubServices], TestClient]) -> None:
    stub = StubServices(_statistics())
    client = signed_in(token("media"), stub)
    page = client.get("/")
    assert page.status_code == 200 and "融媒体中心" in page.text
    html = page.text
    # enrolments summed over sites into the destination: 4 + 3 shown, 2 suppressed
    assert ">7<" in _row(html, "by-destination", "新疆 阜康市")
    assert "人数过少" in _row(html, "by-destination", "上海 普陀区")
    assert ">2<" not in _row(html, "by-destination", "上海 普陀区")
    assert ">7<" in _row(html, "by-level", "4") and ">6<" in _row(html, "by-level", "4")
    level_5 = _row(html, "by-level", "5")
    assert level_5.count("人数过少") == 2 and ">1<" not in level_5 and ">2<" not in level_5
    # employment's own suppression is kept
    assert ">7<" in _row(html, "by-gender", "gender-big")
    assert "人数过少" in _row(html, "by-gender", "gender-small")
    assert 'style="width: 100.0%"' in html
    assert {(service, path) for _, service, path in stub.asked} == {
        ("enrolment", "/statistics/enrolments"), ("assessment", "/statistics/certificates"),
        ("employment", "/statistics/outcomes"), ("training", "/statistics/classes")}
    assert all(t == token("media") for t, _, _ in stub.asked)
    client.cookies.set("songji_console_lang", "en")
    english = client.get("/media").text
    assert "Too few to show" in english and ">7<" in _row(english, "by-gender", "Women")
    # another organisation is refused the page
    assert signed_in(token("hr"), stub).get("/media").status_code == 403


def test_the_media_page_says_what_a_service_refused(
        signed_in: Callable[[str, StubServices], TestClient]) -> None:
    answers = _statistics()
    answers[("assessment", "/statistics/certificates", ())] = Refused(403, "forbidden", "no")
    html = signed_in(token("media"), StubServices(answers)).get("/media").text
    assert "无权进行此操作" in html and "持证人数" not in html and "报名人数" in html


def test_the_womens_federation_sees_its_notices_or_why_it_may_not(
        signed_in: Callable[[str, StubServices], TestClient]) -> None:
    answers = _statistics()
    notices = [{"notification_id": "n-1", "kind": "womens_followup_certified",
                "recipient_id": "womens_federation", "state": "delivered",
                "source_event_type": "SkillLevelCertified",
                "created_at": "2025-08-20T02:00:00+00:00"}]
    answers[("notifications", "/notifications", (("recipient_id", "womens_federation"),))] = (
        notices)
    client = signed_in(WOMENS_TOKEN, StubServices(answers))
    html = client.get("/").text
    assert "妇联" in html and "已取得证书" in html and "2025-08-20 10:00" in html
    assert ">7<" in _row(html, "by-gender", "女")
    answers[("notifications", "/notifications", (("recipient_id", "womens_federation"),))] = (
        Refused(403, "forbidden", "womens_federation may not view_delivery_log"))
    refused = signed_in(WOMENS_TOKEN, StubServices(answers)).get(
        "/womens-federation").text
    assert "无权进行此操作" in refused and "请人社局查看访问权限" in refused
    assert "已取得证书" not in refused


def test_the_auditor_sees_each_service_and_how_to_verify_the_chains(
        signed_in: Callable[[str, StubServices], TestClient]) -> None:
    probes: dict[tuple[str, str], tuple[int, object]] = {}
    for service in ("enrolment", "training", "assessment", "notifications", "employment"):
        probes[(service, "/health")] = (200, {"status": "ok", "relay": "active"})
        probes[(service, "/ready")] = (200, {"ready": True, "checks": {
            "database": True, "migrations": True, "broker": True, "consuming": True}})
    probes[("training", "/ready")] = (503, {"ready": False, "checks": {
        "database": True, "migrations": True, "broker": False, "consuming": False}})
    chains: dict[tuple[str, str, tuple[tuple[str, str], ...]], object] = {
        (service, "/audit/chain", ()): Refused(503, "service_unreachable", service)
        for service in ("training", "assessment", "notifications", "employment", "funding")}
    chains[("enrolment", "/audit/chain", ())] = {
        "service": "enrolment", "head_position": 3, "head_chain_hash": "ab" * 32,
        "last_sealed_head": {"position": 3, "chain_hash": "ab" * 32,
                             "sealed_at": "2025-08-04T12:00:00+00:00"},
        "verification": {"id": 2, "state": "broken", "requested_by": "auditor",
                         "requested_at": "2025-08-04T12:00:00+00:00",
                         "finished_at": "2025-08-04T12:00:01+00:00", "checked": 1, "total": 3,
                         "first_bad_position": 2, "reason": "event at position 2 does not "
                         "match its hash", "seals_checked": True, "latest_seal": None,
                         "refused_seals": 0}}
    client = signed_in(token("auditor"), StubServices(chains, probes))
    html = client.get("/").text
    assert "songji audit verify" in html and "songji audit replay" in html
    enrolment = html[html.index('id="chain-enrolment"'):].split("</tr>")[0]
    assert "断链" in enrolment and "第一个断点" in enrolment and ">2</strong>" in enrolment
    assert "does not match its hash" in enrolment and 'id="verify-enrolment"' in enrolment
    assert "hx-get" not in enrolment  # over: no longer polled
    assert "服务暂时无法访问" in html[html.index('id="chain-training"'):].split("</tr>")[0]
    assert 'id="run-replay"' in html and "尚未运行" in html
    training = html[html.index('id="store-training"'):].split("</tr>")[0]
    assert 'class="bad">broker: 否' in training and "active" in training
    funding = html[html.index('id="store-funding"'):].split("</tr>")[0]
    assert "服务暂时无法访问" in funding
    assert signed_in(token("media"), StubServices({})).get("/audit").status_code == 403


# -- classes: the institution's list and task queue, the HR approval queue, training charts --

def _class(class_id: str, state: str, first: str, last: str,
           institution_id: str = "inst-1") -> dict[str, object]:
    return {"class_id": class_id, "institution_id": institution_id,
            "occupation_code": "electrician", "target_level": 4,
            "site": {"province": "新疆", "city": "阜康市", "site_name": "阜康工业园"},
            "mode": "night", "capacity": 30, "enrolled": 12, "state": state,
            "first_session_date": first, "last_session_date": last,
            "approved_on": None, "completed_on": None}


class PagedStubServices(StubServices):
    """Also answers a single page (``call``) of training's ``GET /classes``, with the next
    link training would give, from pages keyed by (state, after)."""

    def __init__(self, answers: dict[tuple[str, str, tuple[tuple[str, str], ...]], object],
                 pages: dict[tuple[str | None, str | None], tuple[list[object], str | None]]
                 ) -> None:
        super().__init__(answers)
        self.pages = pages
        self.paged: list[dict[str, str]] = []

    async def call(self, token: str, method: str, service: str, path: str, *,
                   json: object = None, params: dict[str, str] | None = None
                   ) -> httpx.Response:
        assert (method, service, path) == ("GET", "training", "/classes")
        params = dict(params or {})
        self.paged.append(params)
        found = self.pages.get((params.get("state"), params.get("after")))
        if found is None:
            raise Refused(403, "out_of_scope", "not this one")
        items, following = found
        headers = {"Link": f'</classes?after={following}&limit=20>; rel="next"'} \
            if following else {}
        return httpx.Response(200, json=items, headers=headers)


def test_the_task_queue_sorts_approved_classes_by_their_dates() -> None:
    pending = [_class("c-p", "awaiting_approval", "2025-09-01", "2025-09-02")]
    approved = [_class("c-early", "approved", "2025-09-10", "2025-09-12"),
                _class("c-now", "approved", "2025-09-01", "2025-09-05"),
                _class("c-done", "approved", "2025-08-01", "2025-08-31"),
                _class("c-last-day", "approved", "2025-09-01", "2025-09-03")]
    tasks = task_queue(pending, approved, date(2025, 9, 3))
    assert tasks["awaiting_approval"] == pending
    assert [c["class_id"] for c in tasks["registers"]] == ["c-now", "c-last-day"]
    assert [c["class_id"] for c in tasks["to_complete"]] == ["c-done", "c-last-day"]


def test_the_institution_sees_its_classes_a_page_at_a_time_and_its_tasks(
        signed_in: Callable[[str, StubServices], TestClient],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages_institution, "programme_today", lambda: date(2025, 9, 3))
    pending = _class("c-wait", "awaiting_approval", "2025-10-01", "2025-10-02")
    running = _class("c-run", "approved", "2025-09-01", "2025-09-05")
    finished = _class("c-fin", "approved", "2025-08-01", "2025-08-02")
    stub = PagedStubServices({}, {(None, None): ([finished, running], "CURSOR-1"),
                                  (None, "CURSOR-1"): ([pending], None),
                                  ("awaiting_approval", None): ([pending], None),
                                  ("approved", None): ([finished, running], None)})
    client = signed_in(token("org-inst-1"), stub)
    html = client.get("/institution").text
    table = html[html.index('id="classes"'):html.index("</table>", html.index('id="classes"'))]
    assert "c-fin" in table and "c-run" in table and "c-wait" not in table
    assert "已批准" in table and "12 / 30" in table and "阜康工业园" in table
    assert 'href="/institution?after=CURSOR-1"' in html and 'id="classes-first"' not in html
    assert "c-wait" in html[html.index('id="task-awaiting_approval"'):]
    assert "c-run" in html[html.index('id="task-registers"'):html.index('id="task-to_complete"')]
    assert "c-fin" in html[html.index('id="task-to_complete"'):]
    second = client.get("/institution", params={"after": "CURSOR-1"}).text
    table = second[second.index('id="classes"'):]
    assert "c-wait" in table[:table.index("</table>")] and 'id="classes-next"' not in second
    assert 'id="classes-first"' in second
    tasks = [{"limit": "100", "state": "awaiting_approval"}, {"limit": "100", "state": "approved"}]
    assert stub.paged == [{"limit": "20"}, *tasks, {"limit": "20", "after": "CURSOR-1"}, *tasks]
    assert "还有更多班级未列出" not in html
    client.cookies.set("songji_console_lang", "en")
    assert "Classes waiting for approval" in client.get("/institution").text
    # what training refuses is said, not hidden
    refused = client.get("/institution", params={"after": "FORGED"}).text
    assert "out_of_scope" in refused


def test_the_task_queue_says_when_more_classes_wait_than_it_shows(
        signed_in: Callable[[str, StubServices], TestClient]) -> None:
    approved = _class("c-run", "approved", "2025-09-01", "2025-09-05")
    stub = PagedStubServices({}, {(None, None): ([approved], None),
                                  ("awaiting_approval", None): ([], None),
                                  ("approved", None): ([approved], "MORE")})
    html = signed_in(token("org-inst-1"), stub).get("/institution").text
    assert "还有更多班级未列出" in html


def test_the_hr_bureau_approves_from_its_queue(
        signed_in: Callable[[str, StubServices], TestClient]) -> None:
    pending = [_class("c-a", "awaiting_approval", "2025-10-01", "2025-10-02"),
               _class("c-b", "awaiting_approval", "2025-10-03", "2025-10-04", "inst-2")]
    answers: dict[tuple[str, str, tuple[tuple[str, str], ...]], object] = {
        ("funding", "/ledger", (("limit", 500), ("status", "due"))): [],
        ("funding", "/budget", ()): [], ("funding", "/policies", ()): [],
        ("funding", "/test-clock", ()): {"enabled": False}}
    stub = PagedStubServices(answers, {("awaiting_approval", None): (pending, "MORE")})
    html = signed_in(token("hr"), stub).get("/hr").text
    queue = html[html.index('id="pending-classes"'):html.index("</table>",
                                                              html.index('id="pending-classes"'))]
    assert "c-a" in queue and "inst-2" in queue and "待人社局审批的班级 (2+)" in html
    assert 'id="approve-c-b"' in queue and 'name="class_id" value="c-b"' in queue
    assert stub.paged == [{"state": "awaiting_approval", "limit": "50"}]


def test_the_media_centre_sees_classes_and_completions_by_destination(
        signed_in: Callable[[str, StubServices], TestClient]) -> None:
    html = signed_in(token("media"), StubServices(_statistics())).get("/media").text
    fukang = _row(html, "by-destination", "新疆 阜康市")
    assert "开班数" in html and "结业达标人数" in html
    classes_chart = html[html.index("<caption>开班数</caption>"):]
    assert '<th scope="col" class="money">班数</th>' in classes_chart[:400]
    assert ">3<" in fukang and ">27<" in fukang  # classes in every state; completions
    putuo = _row(html, "by-destination", "上海 普陀区")
    assert ">1<" in putuo and ">3<" not in putuo  # 1 class shown; 3 trainees suppressed
    assert ">27<" in _row(html, "by-level", "4") and "27" not in html[
        html.index('id="by-gender"'):html.index("</section>", html.index('id="by-gender"'))]
