"""The console's form editors and its sessions file, without services: the class's session
rows and the policy form read into the services' requests (yuan typed, fen sent), refusals
placed beside their fields, add and remove row without JavaScript, one request per submit;
sessions that outlive a restart of the console and end at sign-out."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from console import form_rows, i18n, policy_form, sessions
from console.accounts import Accounts
from console.app import create_app
from console.pages_institution import ClassForm, place_refusal, read_class_form
from console.policy_form import PolicyForm, read_policy_form, yuan_text
from console.services import Refused
from console.settings import ConsoleSettings
from shared.auth.tokens import OrganisationRegistry, parse_organisations
from songji.demo.steps import policy_body
from tests.orgs import organisations_json, token

CLASS = {"class_id": "c-1", "occupation": "electrician", "level": "4", "mode": "night",
         "province": "新疆", "city": "阜康市", "site_name": "阜康工业园", "capacity": "60",
         "required_minutes": "300"}


def _rows(prefix: str, rows: list[dict[str, str]]) -> dict[str, str]:
    return {f"{prefix}-{i}-{k}": v for i, row in enumerate(rows) for k, v in row.items()}


def _session(day: str, start: str, end: str, kind: str = "classroom_theory") -> dict[str, str]:
    return {"date": day, "start": start, "end": end, "kind": kind}


BLANK = {"date": "", "start": "", "end": "", "kind": "classroom_theory"}


# -- yuan and fen ----------------------------------------------------------------------------

def test_yuan_typed_is_fen_sent_and_fen_shown_is_yuan_again() -> None:
    for fen in (0, 5, 150, 150050, 123456789):
        assert i18n.fen_of(yuan_text(fen)) == fen
    assert yuan_text(150050) == "1500.50" and yuan_text(5) == "0.05"
    assert i18n.fen_of("1,500.5") == 150050


# -- the class's session rows ----------------------------------------------------------------

def test_session_rows_make_the_schedule_request_leaving_blank_rows_out() -> None:
    fields = {**CLASS, **_rows("session", [
        _session("2025-08-04", "19:30", "22:00"), BLANK,
        _session("2025-08-05", "19:30", "22:00", "practical_on_the_job")])}
    body, rows, form = read_class_form(fields, "inst-1", "zh-CN")
    assert form.errors == {} and rows == [0, 2]
    assert body == {
        "class_id": "c-1", "institution_id": "inst-1", "occupation_code": "electrician",
        "target_level": 4, "site": {"province": "新疆", "city": "阜康市",
                                    "site_name": "阜康工业园"},
        "mode": "night", "capacity": 60, "required_minutes": 300, "trainer_ids": [],
        "sessions": [
            {"date": "2025-08-04", "start_local": "19:30:00", "end_local": "22:00:00",
             "kind": "classroom_theory"},
            {"date": "2025-08-05", "start_local": "19:30:00", "end_local": "22:00:00",
             "kind": "practical_on_the_job"}]}


def test_each_wrong_session_row_is_named_in_the_users_language() -> None:
    fields = {**CLASS, "capacity": "sixty", **_rows("session", [
        _session("2025-08-04", "19:30", "22:00"),
        _session("2025-13-01", "25:00", "22:00", "lecture"),
        _session("2025-08-04", "21:00", "23:00"),
        _session("2025-08-06", "22:00", "19:30")])}
    body, _, form = read_class_form(fields, "inst-1", "zh-CN")
    assert body is None
    assert form.errors == {
        "capacity": "请填写整数",
        "session-1-date": "请填写日期（年-月-日）", "session-1-start": "请填写时间（时:分）",
        "session-1-kind": "不是可选的值",
        "session-2-start": "与同日另一课次时间重叠",
        "session-3-end": "结束时间须晚于开始时间（同一天内）"}
    _, _, english = read_class_form(fields, "inst-1", "en")
    assert english.errors["session-2-start"] == "Overlaps another session that day"
    _, _, empty = read_class_form({**CLASS, **_rows("session", [BLANK])}, "inst-1", "en")
    assert empty.errors == {"sessions": "Enter at least one session"}


def test_rows_are_added_and_removed_keeping_what_was_typed() -> None:
    rows = [_session("2025-08-04", "19:30", "22:00"), _session("2025-08-05", "08:00", "12:00")]
    fields = {**_rows("session", rows), "add_session": "1"}
    added = form_rows.edit_rows(fields, "session", rows, BLANK)
    assert added == ([*rows, BLANK], 2)
    removed = form_rows.edit_rows({"remove_session": "0"}, "session", rows, BLANK)
    assert removed == ([rows[1]], None)
    assert form_rows.edit_rows({"remove_session": "0"}, "session", rows[:1], BLANK) == (
        [BLANK], None)
    assert form_rows.edit_rows({}, "session", rows, BLANK) is None
    # rows come back in the order of their indices, whatever the form's order
    assert form_rows.read_rows({"s-10-a": "x", "s-2-a": "y"}, "s", ("a", "b")) == [
        {"a": "y", "b": ""}, {"a": "x", "b": ""}]


def test_trainings_refusals_land_beside_the_row_they_concern() -> None:
    fields = {**CLASS, **_rows("session", [
        _session("2025-08-04", "19:30", "22:00"), BLANK,
        _session("2025-08-05", "19:30", "22:00")])}
    body, rows, form = read_class_form(fields, "inst-1", "zh-CN")
    assert body is not None
    invalid = Refused(422, "invalid_request", "x", {"detail": [
        {"loc": ["body", "sessions", 1, "kind"], "msg": "Input should be ...",
         "type": "literal_error"},
        {"loc": ["body", "site", "city"], "msg": "too long", "type": "string_too_long"}]})
    place_refusal(form, rows, body["sessions"], invalid, "zh-CN")
    assert form.errors == {"session-2-kind": "不是可选的值", "city": "太长",
                           "form": "填写有误，请看各栏旁的说明。"}
    form = ClassForm(form.values, form.rows)
    place_refusal(form, rows, body["sessions"], Refused(
        409, "sessions_overlap", "Two sessions on 2025-08-05 overlap",
        {"code": "sessions_overlap", "session_date": "2025-08-05"}), "en")
    assert form.errors == {"session-2-start": "Overlaps another session that day"}
    form = ClassForm(form.values, form.rows)
    place_refusal(form, rows, body["sessions"], Refused(
        409, "required_minutes_exceed_sessions", "...",
        {"required_minutes": 400, "planned_minutes": 300}), "zh-CN")
    assert form.errors == {"required_minutes": "超过各课次合计（300 分钟）"}
    form = ClassForm(form.values, form.rows)
    place_refusal(form, rows, body["sessions"], Refused(403, "forbidden", "no"), "en")
    assert form.errors == {"form": "Not accepted: no"}


# -- the policy form -------------------------------------------------------------------------

def _fields(form: PolicyForm) -> dict[str, str]:
    fields = {k: v for k, v in form.values.items() if k != "cap_one" or v}
    return {**fields, **_rows("rate", form.rates), **_rows("uplift", form.uplifts)}


def test_the_policy_form_filled_from_a_version_makes_the_same_request_again() -> None:
    example = policy_body()
    form = PolicyForm.of_policy(example)
    amount = example["training_subsidies"][0]["amount_fen"]
    assert form.rates[0]["amount"] == yuan_text(amount)
    parsed = read_policy_form(_fields(form), "zh-CN")
    assert parsed.form.errors == {}
    assert parsed.body == {**example, "caps": {"one_training_subsidy_per_occupation_level": True,
                                               "max_subsidised_trainings_per_year": None},
                           "uplifts": [{"percent": u["percent"], "province": u["province"],
                                        "city": None, "occupation_code": None}
                                       for u in example["uplifts"]]}


def test_the_policy_form_sends_fen_and_names_each_wrong_field() -> None:
    form = PolicyForm.of_policy(policy_body())
    form.rates, form.uplifts = [], []
    fields = {**_fields(form), "meals_yuan": "30.5", "transport_yuan": "12.345",
              "threshold": "120", "cap_per_year": "2",
              **_rows("rate", [{"occupation": "welder", "level": "5", "amount": "1,800.00"},
                               {"occupation": "", "level": "", "amount": ""},
                               {"occupation": "cook", "level": "9", "amount": "-3"}]),
              **_rows("uplift", [{"percent": "20", "province": "", "city": "阜康市",
                                  "occupation": ""}])}
    fields.pop("cap_one")
    parsed = read_policy_form(fields, "en")
    assert parsed.body is None
    assert parsed.form.errors == {
        "transport_yuan": "Enter an amount in yuan, at most two decimals",
        "threshold": "Enter a whole number from 0 to 100",
        "rate-2-level": "Enter a whole number", "rate-2-amount":
            "Enter an amount in yuan, at most two decimals",
        "uplift-0-province": "An uplift names a province (a destination) or an occupation, "
                             "not both"}
    fields.update({"transport_yuan": "12.34", "threshold": "80", "rate-2-level": "4",
                   "rate-2-amount": "0.05", "uplift-0-province": "新疆"})
    parsed = read_policy_form(fields, "en")
    assert parsed.body is not None, parsed.form.errors
    assert parsed.body["living_subsidy"] == {"meals_fen_per_day": 3050,
                                             "transport_fen_per_day": 1234}
    assert parsed.body["training_subsidies"] == [
        {"occupation_code": "welder", "level": 5, "amount_fen": 180000},
        {"occupation_code": "cook", "level": 4, "amount_fen": 5}]
    assert parsed.rate_rows == [0, 2]
    assert parsed.body["caps"] == {"one_training_subsidy_per_occupation_level": False,
                                   "max_subsidised_trainings_per_year": 2}
    assert parsed.body["uplifts"] == [{"percent": 20, "province": "新疆", "city": "阜康市",
                                       "occupation_code": None}]


def test_fundings_refusals_land_beside_the_field_they_concern() -> None:
    fields = {**_fields(PolicyForm.of_policy(policy_body())),
              **_rows("uplift", [{"percent": "20", "province": "新疆", "city": "",
                                  "occupation": ""},
                                 {"percent": "60", "province": "", "city": "",
                                  "occupation": "welder"}])}
    parsed = read_policy_form(fields, "zh-CN")
    assert parsed.body is not None
    policy_form.place_refusal(parsed, Refused(409, "uplift_above_ceiling", "60% > 50%", {
        "code": "uplift_above_ceiling", "percent": 60, "ceiling": 50}), "zh-CN")
    assert parsed.form.errors == {"uplift-1-percent": "上浮不得超过 50%"}
    parsed = read_policy_form(fields, "zh-CN")
    policy_form.place_refusal(parsed, Refused(422, "invalid_request", "x", {"detail": [
        {"loc": ["body", "training_subsidies", 0, "amount_fen"], "msg": "too big",
         "type": "less_than_equal"},
        {"loc": ["body", "living_subsidy", "meals_fen_per_day"], "msg": "too big",
         "type": "less_than_equal"},
        {"loc": ["body", "policy_id"], "msg": "pattern", "type": "string_pattern_mismatch"}]}),
        "en")
    assert parsed.form.errors == {
        "rate-0-amount": "Too large", "meals_yuan": "Too large",
        "policy_id": "Not in the expected form (lower-case letters, digits, _ or -)",
        "form": "Not accepted: see the reasons beside the fields."}


# -- the pages, over a stub of the services --------------------------------------------------

class StubServices:
    """Answers GETs from a table; POSTs are recorded and answered by ``refuse`` (a Refused
    to raise) or accepted (``location`` the Location header of the answer)."""

    def __init__(self, gets: dict[tuple[str, str], object]) -> None:
        self.gets = gets
        self.posts: list[tuple[str, str, Any]] = []
        self.refuse: Refused | None = None

    async def get(self, token: str, service: str, path: str,
                  params: dict[str, Any] | None = None) -> object:
        return self.gets.get((service, path), [])

    async def call(self, token: str, method: str, service: str, path: str, *,
                   json: Any = None, params: Any = None) -> httpx.Response:
        if method == "GET":  # a list read through the paged call: the page as given
            return httpx.Response(200, json=self.gets.get((service, path), []))
        self.posts.append((service, path, json))
        if self.refuse is not None:
            raise self.refuse
        return httpx.Response(202, json={"job": "j-1"}, headers={"Location": "/jobs/j-1"})

    async def post(self, token: str, service: str, path: str, json: Any = None) -> Any:
        await self.call(token, "POST", service, path, json=json)
        return None


def _registry() -> OrganisationRegistry:
    return OrganisationRegistry(parse_organisations(organisations_json()))


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def _sign_in(client: TestClient, org_token: str) -> None:
    page = client.get("/signin")
    answer = client.post("/signin", data={"csrf": _csrf(page.text), "token": org_token},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text


@pytest.fixture
def stub() -> StubServices:
    return StubServices({("funding", "/policies"): [], ("funding", "/test-clock"): None})


@pytest.fixture
def console(stub: StubServices) -> Iterator[TestClient]:
    app = create_app(ConsoleSettings(service_urls={}), Accounts(_registry(), None, None))
    with TestClient(app, base_url="http://testserver") as client:
        app.state.services = stub
        yield client


def test_the_class_form_posts_once_and_only_when_every_row_reads_right(
        console: TestClient, stub: StubServices) -> None:
    _sign_in(console, token("org-inst-1"))
    csrf = _csrf(console.get("/institution").text)
    typed = {"csrf": csrf, **CLASS, **_rows("session", [_session("2025-08-04", "19:30", "22:00")])}
    # add a row without JavaScript: the page again, two rows, nothing sent
    more = console.post("/institution/classes", data={**typed, "add_session": "1"})
    assert more.status_code == 200 and 'id="session-1-date"' in more.text
    assert 'value="19:30"' in more.text and stub.posts == []
    # htmx asks for the rows editor alone
    part = console.post("/institution/sessions-editor", data={**typed, "add_session": "1"},
                        headers={"HX-Request": "true"})
    assert 'id="sessions-editor"' in part.text
    assert "<main" not in part.text and 'id="session-1-date"' in part.text
    wrong = console.post("/institution/classes", data={
        **typed, **_rows("session", [_session("2025-08-04", "19:30", "22:00"),
                                     _session("2025-08-04", "21:00", "23:00")])})
    assert wrong.status_code == 422 and stub.posts == []
    assert 'aria-describedby="err-session-1-start"' in wrong.text
    assert re.search(r'id="session-1-start"[^>]*autofocus', wrong.text)  # looked at first
    # through htmx (a boosted form): 200, for htmx to swap it in, scrolled to that field
    boosted = console.post("/institution/classes", headers={"HX-Request": "true"}, data={
        **typed, **_rows("session", [_session("2025-08-04", "19:30", "22:00"),
                                     _session("2025-08-04", "21:00", "23:00")])})
    assert boosted.status_code == 200 and stub.posts == []
    assert boosted.headers["HX-Reswap"] == "innerHTML show:[autofocus]:top"
    assert boosted.headers["HX-Push-Url"] == "/institution"
    assert re.search(r'id="err-session-1-start">与同日另一课次时间重叠<', wrong.text)
    done = console.post("/institution/classes", data={
        **typed, **_rows("session", [_session("2025-08-04", "19:30", "22:00"), BLANK,
                                     _session("2025-08-05", "19:30", "22:00")])},
                        follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/institution/classes/c-1"
    assert [(s, p) for s, p, _ in stub.posts] == [("training", "/classes")]
    assert len(stub.posts[0][2]["sessions"]) == 2
    # training refuses: the reason beside the field, in English when switched
    stub.refuse = Refused(409, "class_already_scheduled", "taken", {"class_id": "c-1"})
    console.cookies.set("songji_console_lang", "en")
    again = console.post("/institution/classes", data=typed)
    assert again.status_code == 422 and len(stub.posts) == 2
    assert re.search(r'id="err-class_id">This class id is taken<', again.text)


def test_the_policy_form_publishes_in_fen_or_shows_fundings_refusal_beside_the_field(
        console: TestClient, stub: StubServices) -> None:
    published = {**policy_body(), "version": 3, "published_on": "2025-01-01",
                 "caps": {"one_training_subsidy_per_occupation_level": True,
                          "max_subsidised_trainings_per_year": None}}
    stub.gets[("funding", "/policies")] = [published]
    _sign_in(console, token("hr"))
    page = console.get("/hr")
    assert page.status_code == 200 and "luquan-2025" in page.text and "第 3 版" in page.text
    meals = yuan_text(published["living_subsidy"]["meals_fen_per_day"])
    assert f'id="meals_yuan" name="meals_yuan" type="text" value="{meals}"' in page.text
    form = PolicyForm.of_policy(published)
    typed = {"csrf": _csrf(page.text), **_fields(form), "uplift-0-percent": "60"}
    # a rate added without JavaScript, and through htmx (the form alone): nothing sent
    new_rate = f'id="rate-{len(form.rates)}-occupation"'
    more = console.post("/hr/policies", data={**typed, "add_rate": "1"})
    assert more.status_code == 200 and new_rate in more.text and "<main" in more.text
    part = console.post("/hr/policy-editor", data={**typed, "remove_uplift": "0"},
                        headers={"HX-Request": "true"})
    assert 'id="uplift-0-percent"' in part.text and 'value="60"' not in part.text
    assert "<main" not in part.text and stub.posts == []
    stub.refuse = Refused(409, "uplift_above_ceiling", "60 > 50",
                          {"code": "uplift_above_ceiling", "percent": 60, "ceiling": 50})
    refused = console.post("/hr/policies", data=typed)
    assert refused.status_code == 422
    assert re.search(r'id="err-uplift-0-percent">上浮不得超过 50%<', refused.text)
    assert 'value="60"' in refused.text  # what was typed, kept
    stub.refuse = None
    done = console.post("/hr/policies", data={**typed, "uplift-0-percent": "20",
                                              "meals_yuan": "31.50"},
                        follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/hr/jobs/j-1"
    sent = stub.posts[-1][2]
    assert sent["living_subsidy"]["meals_fen_per_day"] == 3150
    assert sent["uplifts"][0]["percent"] == 20 and len(stub.posts) == 2


# -- sessions that outlive the console -------------------------------------------------------

@contextlib.contextmanager
def _app(state: Path, key: str) -> Iterator[TestClient]:
    """A console process of its own (a new app), on the state folder and key given."""
    settings = ConsoleSettings(service_urls={}, state_dir=state,
                               session_keys=tuple(sessions.parse_keys(key)))
    app = create_app(settings, Accounts(_registry(), None, None))
    with TestClient(app, base_url="http://testserver") as client:
        app.state.services = StubServices({})
        yield client
    app.state.sessions.close()


def test_a_session_survives_a_restart_of_the_console_and_sign_out_ends_it(
        tmp_path: Path) -> None:
    key = sessions.new_key()
    with _app(tmp_path, key) as first:
        _sign_in(first, token("hr"))
        cookie = first.cookies.get(sessions.COOKIE)
        assert cookie
    # a new console process: the same state folder and key
    with _app(tmp_path, key) as second:
        second.cookies.set(sessions.COOKIE, cookie)
        home = second.get("/hr")
        assert home.status_code == 200 and 'id="org">hr<' in home.text
        kept = (tmp_path / sessions.FILE_NAME).read_bytes()
        wal = tmp_path / f"{sessions.FILE_NAME}-wal"
        kept += wal.read_bytes() if wal.exists() else b""
        assert token("hr").encode() not in kept and cookie.encode() not in kept
        assert (tmp_path / sessions.FILE_NAME).stat().st_mode & 0o777 == 0o600
        second.post("/signout", data={"csrf": _csrf(home.text)})
    with _app(tmp_path, key) as third:
        third.cookies.set(sessions.COOKIE, cookie)
        assert "会话已过期" in third.get("/hr").text


def test_a_session_sealed_under_another_key_is_over(tmp_path: Path) -> None:
    with _app(tmp_path, sessions.new_key()) as first:
        _sign_in(first, token("hr"))
        cookie = first.cookies.get(sessions.COOKIE)
    rotated = sessions.new_key()
    with _app(tmp_path, rotated) as other:
        other.cookies.set(sessions.COOKIE, cookie)
        assert "会话已过期" in other.get("/hr").text


def test_a_message_survives_to_the_next_page_across_a_restart(tmp_path: Path) -> None:
    key = sessions.new_key()
    accounts = Accounts(_registry(), None, None)
    store = sessions.SessionStore(30, accounts.with_token, path=tmp_path / "s.sqlite3",
                                  keys=sessions.parse_keys(key))
    session_id, session = store.start(accounts.with_token(token("hr")))  # type: ignore[arg-type]
    session.say("已完成: c-1")
    session.shown["c-1"] = {"register": [{"worker_id": "w-1", "outcome": "recorded"}]}
    store.save(session_id, session)
    store.close()
    again = sessions.SessionStore(30, accounts.with_token, path=tmp_path / "s.sqlite3",
                                  keys=sessions.parse_keys(f"{sessions.new_key()},{key}"))
    found = again.get(session_id)
    assert found is not None and found.flash == [("ok", "已完成: c-1")]
    assert found.shown == session.shown and found.csrf == session.csrf
    with pytest.raises(ValueError):
        sessions.SessionStore(30, accounts.with_token, path=tmp_path / "t.sqlite3")


def test_the_bodys_home_shows_its_queue_and_fills_the_form_with_the_class_picked(
        console: TestClient, stub: StubServices) -> None:
    stub.gets[("assessment", "/classes/awaiting-assessment")] = [
        {"class_id": "fk-7", "institution_id": "inst-1", "occupation_code": "electrician",
         "target_level": 4, "completed_on": "2025-08-07", "eligible_trainees": 28}]
    _sign_in(console, token("org-body-1"))
    home = console.get("/body")
    assert home.status_code == 200
    row = home.text[home.text.index('data-class="fk-7"'):].split("</tr>")[0]
    assert "electrician" in row and "2025-08-07" in row and ">28<" in row
    assert 'href="/body?class_id=fk-7#schedule-form"' in row
    assert 'id="class_id" name="class_id" value=""' in home.text
    picked = console.get("/body", params={"class_id": "fk-7"})
    assert 'id="class_id" name="class_id" value="fk-7"' in picked.text
    assert stub.posts == []  # reading the queue sends nothing

    stub.gets[("assessment", "/classes/awaiting-assessment")] = []
    assert "暂无待办" in console.get("/body").text
