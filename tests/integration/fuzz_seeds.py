"""State the API fuzzing starts from, so generated requests reach past "unknown id".

Random identifiers only ever meet 404, and random bodies rarely pass a check digit, so each
service is first given a little real state through its own API (an accredited institution
with an approved class, a registered worker, a webhook, ...). The fuzzing then also uses the
identifiers this state has in its path parameters: a second approval, a suspension, a
withdrawal of something that exists, each from every organisation.

Only what a service's own API can create is seeded: the fuzzed service runs alone, with no
other service producing onto the bus.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.enrolment.domain.national_id import check_digit
from tests.orgs import FUKANG

KnownIds = dict[str, list[str]]
Send = Callable[[str, str, str, dict[str, Any]], Any]  # (method, path, org, json) -> response


def _national_id(serial: int) -> str:
    first17 = f"532128199001{serial % 28 + 1:02d}{serial % 1000:03d}"
    return first17 + check_digit(first17)


def _ok(response: Any) -> Any:
    assert response.status_code < 300, f"seeding failed: {response.status_code} {response.text}"
    return response


def enrolment(send: Send) -> KnownIds:
    workers = []
    for serial in (1, 2):
        registered = _ok(send("POST", "/workers", "station-fukang", {
            "name": f"工人{serial}", "national_id": _national_id(serial),
            "mobile": f"139{serial:08d}", "hometown_county": "禄劝彝族苗族自治县",
            "hometown_township": "翠华镇", "household_county": "禄劝彝族苗族自治县",
            "work_site": FUKANG, "employer": "阜康某农业公司"}))
        workers.append(registered.json()["worker_id"])
    _ok(send("POST", f"/workers/{workers[0]}/intake-surveys", "station-fukang", {
        "desired_occupations": ["electrician"], "availability": ["weekend"],
        "earliest_start": "2025-09-01"}))
    return {"worker_id": workers}


CLASS = {"class_id": "class-1", "institution_id": "inst-1", "occupation_code": "electrician",
         "target_level": 5, "site": FUKANG, "mode": "weekend", "capacity": 30,
         "sessions": [{"date": "2025-07-26", "start_local": "09:00", "end_local": "12:00",
                       "kind": "practical_on_the_job"}], "required_minutes": 180}


def training(send: Send) -> KnownIds:
    for institution in ("inst-1", "inst-2"):
        _ok(send("POST", "/institutions", "hr", {
            "institution_id": institution, "name": "某培训学校",
            "occupations": ["electrician"], "sites": [FUKANG]}))
    _ok(send("POST", "/classes", "org-inst-1", CLASS))
    _ok(send("POST", "/classes", "org-inst-1", {**CLASS, "class_id": "class-2"}))
    _ok(send("POST", "/classes/class-1/approval", "hr", {}))
    return {"institution_id": ["inst-1", "inst-2"], "class_id": ["class-1", "class-2"]}


def assessment(send: Send) -> KnownIds:
    _ok(send("POST", "/bodies", "hr", {"body_id": "body-1", "name": "鉴定中心",
                                       "code": "YNSK"}))
    return {"body_id": ["body-1"]}


def funding(send: Send) -> KnownIds:
    _ok(send("POST", "/policies", "hr", {
        "policy_id": "luquan-2025", "effective_from": "2025-01-01",
        "training_subsidies": [{"occupation_code": "electrician", "level": 4,
                                "amount_fen": 150000}],
        "uplifts": [{"percent": 50, "province": "新疆"}],
        "living_subsidy": {"meals_fen_per_day": 6000, "transport_fen_per_day": 2000},
        "attendance_threshold_percent": 80}))
    _ok(send("POST", "/budget/allocations", "hr", {
        "allocation_id": "alloc-1", "fund": "municipal", "amount_fen": 10_000_000}))
    return {}


def notifications(send: Send) -> KnownIds:
    hooks = [_ok(send("POST", "/webhooks", "hr", {
        "url": f"http://127.0.0.1:9/hook-{n}",
        "event_types": ["songji.assessment.SkillLevelCertified.v1"]})).json()["webhook_id"]
        for n in (1, 2)]
    return {"webhook_id": hooks}


def employment(send: Send) -> KnownIds:
    """Vacancies and training orders only: the workers it could refer come from enrolment's
    and assessment's topics, which nothing writes while it is fuzzed alone."""
    for vacancy in ("v-1", "v-2"):
        _ok(send("POST", "/vacancies", "station-fukang", {
            "vacancy_id": vacancy, "employer": "阜康某能源有限公司", "site": FUKANG,
            "occupation_code": "electrician", "minimum_level": 5, "headcount": 3,
            "wage_min_fen": 550_000, "wage_max_fen": 700_000, "shift_pattern": "day",
            "starts_on": "2099-01-01", "closes_on": "2099-12-31"}))
    for order in ("o-1", "o-2"):
        _ok(send("POST", "/orders", "station-fukang", {
            "order_id": order, "employer": "阜康某能源有限公司", "site": FUKANG,
            "occupation_code": "electrician", "headcount": 20, "wanted_by": "2099-03-01"}))
    return {"vacancy_id": ["v-1", "v-2"], "order_id": ["o-1", "o-2"]}


SEEDS: dict[str, Callable[[Send], KnownIds]] = {
    "enrolment": enrolment, "training": training, "assessment": assessment,
    "funding": funding, "notifications": notifications, "employment": employment,
}
