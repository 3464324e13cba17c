"""The console's pure pieces and its sign-in, without services: the ID check digit as typed,
money and dates, password hashes, session expiry, cookie flags, CSRF and sign-out."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from console import charts, i18n, sessions
from console.accounts import Accounts, SignedIn, hash_password, password_matches, write_users_file
from console.app import create_app
from console.pages_hr import parse_accounts
from console.pages_institution import parse_sessions
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
    assert parse_sessions("2025-08-04 19:30 22:00 classroom_theory\n") == [
        {"date": "2025-08-04", "start_local": "19:30", "end_local": "22:00",
         "kind": "classroom_theory"}]
    with pytest.raises(ValueError):
        parse_sessions("2025-08-04 19:30")
    assert parse_accounts("w-1, 马, 6217000000001, RCC")["w-1"]["account_name"] == "马"


def test_a_session_expires_after_its_idle_time(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(sessions.time, "monotonic", lambda: now[0])
    store = sessions.SessionStore(minutes=30)
    signed_in = SignedIn(Accounts(_registry(), None, None).with_token(token("hr")).identity,
                         token("hr"))
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
    app = create_app(ConsoleSettings(service_urls={}), Accounts(registry, None, None))
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


def _outcomes(by: str) -> list[dict[str, object]]:
    return [{"group": f"{by}-big", "suppressed": False, "referred": 10, "placed": 7},
            {"group": f"{by}-small", "suppressed": True}]


def _statistics() -> dict[tuple[str, str, tuple[tuple[str, str], ...]], object]:
    answers: dict[tuple[str, str, tuple[tuple[str, str], ...]], object] = {
        ("enrolment", "/statistics/enrolments", ()): ENROLMENTS,
        ("assessment", "/statistics/certificates", ()): CERTIFICATES}
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
        ("employment", "/statistics/outcomes")}
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
