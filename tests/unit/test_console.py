"""The console's pure pieces and its sign-in, without services: the ID check digit as typed,
money and dates, password hashes, session expiry, cookie flags, CSRF and sign-out."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from console import i18n, sessions
from console.accounts import Accounts, SignedIn, hash_password, password_matches, write_users_file
from console.app import create_app
from console.pages_hr import parse_accounts
from console.pages_institution import parse_sessions
from console.pages_station import id_check
from console.settings import ConsoleSettings
from services.enrolment.domain.national_id import check_digit
from shared.auth.tokens import OrganisationRegistry, parse_organisations
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
