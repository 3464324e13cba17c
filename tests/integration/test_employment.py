"""Employment on the real database and broker: the workers' facts consumed from enrolment's
and assessment's topics, a vacancy's matches, referral, the employer's answer, follow-ups on
the test clock, and the outcomes with small groups suppressed."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from services.employment.app import SPEC as EMPLOYMENT
from shared.contracts import Envelope, Event
from shared.contracts.assessment import SkillLevelCertified
from shared.contracts.enrolment import IntakeSurveyRecorded, WorkerRegistered
from shared.contracts.training import InstitutionAccredited, InstitutionSuspended
from shared.eventsourcing.topics import events_topic
from tests.orgs import FUKANG, auth
from tests.support import eventually, fetch, produce, read_topic, running_service, signed

pytestmark = pytest.mark.integration

HR, STATION, PUTUO = auth("hr"), auth("station-fukang"), auth("station-putuo")
URUMQI = {"province": "新疆", "city": "乌鲁木齐市", "site_name": "米东区"}
DAY = date(2025, 9, 1)


async def publish(bootstrap: str, prefix: str, service: str, event: Event,
                  stream: str | None = None) -> None:
    stream = stream or f"worker-{event.model_dump()['worker_id']}"
    envelope = Envelope(id=uuid.uuid4(), source=f"/songji/{service}", type=event.ce_type(),
                        subject=stream, time=datetime.now(UTC),
                        data=event.model_dump(mode="json"), schema_version=1,
                        correlation_id=f"c-{stream}")
    value, headers = signed(envelope)
    await produce(bootstrap, events_topic(service, prefix), value, key=stream.encode(),
                  headers=headers)


def certified(worker_id: str, occupation: str, level: int) -> SkillLevelCertified:
    return SkillLevelCertified(
        certificate_id=f"cert-{worker_id}", certificate_number=f"XJ-{worker_id}",
        worker_id=worker_id, occupation_code=occupation, level=level, body_id="body-1",
        assessment_id="as-1", class_id="class-1", certified_on=DAY)


def surveyed(worker_id: str, availability: str, band: str | None) -> IntakeSurveyRecorded:
    return IntakeSurveyRecorded(survey_id=f"s-{worker_id}", worker_id=worker_id,
                                desired_occupations=["electrician"],
                                availability=[availability], earliest_start=DAY,
                                surveyed_on=DAY, current_wage_band=band)


async def test_a_vacancy_is_matched_referred_filled_and_followed_up(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    facts: list[tuple[str, Event]] = [
        ("enrolment", WorkerRegistered(worker_id="w-1", gender="female", birth_year=1990,
                                       work_site=FUKANG)),
        ("enrolment", WorkerRegistered(worker_id="w-2", gender="male", birth_year=1988,
                                       work_site=URUMQI)),
        ("enrolment", WorkerRegistered(worker_id="w-3", gender="female", birth_year=1995,
                                       work_site=FUKANG)),
        ("enrolment", surveyed("w-1", "full_time", "3000_to_4999")),
        ("enrolment", surveyed("w-2", "night", "under_3000")),
        ("assessment", certified("w-1", "electrician", 5)),
        ("assessment", certified("w-2", "electrician", 5)),
        ("assessment", certified("w-3", "electrician", 4)),
        ("assessment", certified("w-4", "welder", 5)),
    ]
    async with running_service(EMPLOYMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix, test_clock=True,
                               smallest_group=2) as (_, api):
        for service, event in facts:
            await publish(kafka_bootstrap, topic_prefix, service, event)

        async def consumed() -> bool:
            rows = await fetch(database, "SELECT count(*) AS n FROM worker_certificates")
            surveys = await fetch(database, "SELECT count(*) AS n FROM worker_facts "
                                            "WHERE surveyed_on IS NOT NULL")
            return rows[0]["n"] == 4 and surveys[0]["n"] == 2

        await eventually(consumed)
        today = date.fromisoformat((await api.get("/test-clock", headers=HR)).json()["today"])
        vacancy = {"vacancy_id": "v-1", "employer": "阜康某能源有限公司", "site": FUKANG,
                   "occupation_code": "electrician", "minimum_level": 5, "headcount": 1,
                   "wage_min_fen": 550_000, "wage_max_fen": 700_000, "shift_pattern": "day",
                   "starts_on": today.isoformat(), "closes_on": today.isoformat()}
        assert (await api.post("/vacancies", json={**vacancy, "site": {
            "province": "上海", "city": "普陀区", "site_name": "长征镇"}},
            headers=STATION)).status_code == 403
        assert (await api.post("/vacancies", json=vacancy, headers=STATION)).status_code == 204

        # w-1: 30 + 40 + 20; w-3: 35 (one level above) + 40 + 0 (not surveyed);
        # w-2: 30 + 20 (same province) + 0 (available at night only); w-4: another occupation.
        first = await api.get("/vacancies/v-1/matches", params={"limit": 2}, headers=STATION)
        assert first.status_code == 200
        assert [(m["worker_id"], m["score"]) for m in first.json()] == [("w-1", 90), ("w-3", 75)]
        assert [c["name"] for c in first.json()[0]["criteria"]] == \
            ["level", "location", "availability"]
        rest = await api.get(first.links["next"]["url"], headers=STATION)
        assert [(m["worker_id"], m["score"]) for m in rest.json()] == [("w-2", 50)]
        assert "next" not in rest.links
        assert (await api.get("/vacancies/v-1/matches", headers=PUTUO)).json()["code"] == \
            "out_of_scope"
        assert (await api.get("/vacancies/v-1/matches", headers=auth("media"))).json()["code"] \
            == "wrong_role"
        offered = await api.get("/workers/w-3/vacancies", headers=STATION)
        assert [(v["vacancy_id"], v["score"]) for v in offered.json()] == [("v-1", 75)]

        consent = {"consent_method": "signed_form", "consented_on": today.isoformat()}
        unqualified = await api.post("/vacancies/v-1/referrals", headers=STATION,
                                     json={"worker_id": "w-4", **consent})
        assert (unqualified.status_code, unqualified.json()["code"]) == \
            (409, "worker_not_qualified")
        referrals = {}
        for worker in ("w-1", "w-3"):
            made = await api.post("/vacancies/v-1/referrals", headers=STATION,
                                  json={"worker_id": worker, **consent})
            assert made.status_code == 201, made.text
            referrals[worker] = made.json()["referral_id"]
        answer = f"/vacancies/v-1/referrals/{referrals['w-3']}/answer"
        assert (await api.post(answer, headers=STATION, json={
            "outcome": "declined", "reason": "夜班经验不足"})).status_code == 204
        hired = f"/vacancies/v-1/referrals/{referrals['w-1']}/answer"
        assert (await api.post(hired, headers=STATION, json={
            "outcome": "hired", "monthly_wage_fen": 600_000,
            "starts_on": today.isoformat()})).status_code == 204
        shown = (await api.get("/vacancies/v-1", headers=HR)).json()
        assert (shown["hired"], shown["ended"], shown["open"]) == (1, "filled", False)
        assert (await api.get("/workers/w-1/vacancies", headers=STATION)).json() == []
        filled = await api.get("/vacancies/v-1/matches", headers=STATION)
        assert (filled.status_code, filled.json()) == (200, [])  # nobody can be referred now

        follow_up = f"/vacancies/v-1/referrals/{referrals['w-1']}/follow-ups"
        early = await api.post(follow_up, headers=STATION, json={
            "month": 1, "still_employed": True, "monthly_wage_fen": 600_000})
        assert (early.status_code, early.json()["code"]) == (409, "follow_up_not_due")
        assert (await api.get("/follow-ups/due", headers=STATION)).json() == []
        assert (await api.post("/test-clock", json={"days": 31}, headers=HR)).status_code == 200
        due = (await api.get("/follow-ups/due", headers=STATION)).json()
        assert [(d["referral_id"], d["month"]) for d in due] == [(referrals["w-1"], 1)]
        assert (await api.get("/follow-ups/due", headers=PUTUO)).json() == []
        assert (await api.post(follow_up, headers=STATION, json={
            "month": 1, "still_employed": True, "monthly_wage_fen": 600_000})).status_code == 204
        assert (await api.post("/test-clock", json={"days": 61}, headers=HR)).status_code == 200
        assert (await api.post(follow_up, headers=STATION, json={
            "month": 3, "still_employed": True, "monthly_wage_fen": 650_000})).status_code == 204
        assert (await api.get("/follow-ups/due", headers=STATION)).json() == []

        by_gender = (await api.get("/statistics/outcomes", params={"by": "gender"},
                                   headers=auth("media"))).json()
        assert by_gender == [{
            "group": "female", "suppressed": False, "referred": 2, "placed": 1,
            "placement_rate_percent": 50.0, "median_wage_band_before": "3000_to_4999",
            "median_wage_after_fen": 600_000, "followed_up_3_months": 1,
            "still_employed_3_months": 1, "retention_3_months_percent": 100.0,
            "followed_up_6_months": 0, "still_employed_6_months": 0,
            "retention_6_months_percent": None}]
        by_level = (await api.get("/statistics/outcomes", params={"by": "level"},
                                  headers=HR)).json()
        assert by_level == [{"group": "4", "suppressed": True},
                            {"group": "5", "suppressed": True}]

        published = await read_topic(kafka_bootstrap, events_topic("employment", topic_prefix),
                                     at_least=8)
        types = [dict(r.headers)["ce_type"].decode().split(".")[2] for r in published]
        assert sorted(types) == sorted(
            ["VacancyPosted", "WorkerReferred", "WorkerReferred", "ReferralDeclined",
             "WorkerPlaced", "VacancyClosed", "FollowUpRecorded", "FollowUpRecorded"])

        # 返乡创业: a station records a worker's request; it goes on the HR bureau's list
        ask = {"business_kind": "farming", "needs": ["loan", "premises"],
               "hometown_county": "禄劝彝族苗族自治县"}
        assert (await api.post("/workers/w-1/business-guidance-requests", json=ask,
                               headers=PUTUO)).json()["code"] == "out_of_scope"
        unknown = await api.post("/workers/w-9/business-guidance-requests", json=ask,
                                 headers=STATION)
        assert (unknown.status_code, unknown.json()["code"]) == (404, "worker_unknown")
        asked = await api.post("/workers/w-1/business-guidance-requests", json=ask,
                               headers=STATION)
        assert asked.status_code == 201, asked.text
        request_id = asked.json()["request_id"]
        again = await api.post("/workers/w-1/business-guidance-requests", json=ask,
                               headers=STATION)
        assert (again.status_code, again.json()["code"]) == (409, "guidance_already_requested")
        assert (await api.get("/business-guidance-requests", headers=STATION)).json()["code"] \
            == "wrong_role"
        listed = (await api.get("/business-guidance-requests", headers=HR)).json()
        assert [(r["request_id"], r["worker_id"], r["needs"]) for r in listed] == \
            [(request_id, "w-1", ["loan", "premises"])]
        answered = await api.post(f"/workers/w-1/business-guidance-requests/{request_id}/answer",
                                  json={"referred_to": "禄劝县创业指导服务中心"}, headers=HR)
        assert answered.status_code == 204
        assert (await api.get("/business-guidance-requests", headers=HR)).json() == []
        every = (await api.get("/business-guidance-requests", params={"open": "false"},
                               headers=HR)).json()
        assert [r["referred_to"] for r in every] == ["禄劝县创业指导服务中心"]


async def test_an_employers_training_order_is_placed_planned_and_cancelled(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    order = {"order_id": "o-1", "employer": "阜康某能源有限公司", "site": FUKANG,
             "occupation_code": "electrician", "headcount": 20, "wanted_by": "2099-03-01"}
    async with running_service(EMPLOYMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        elsewhere = await api.post("/orders", json=order, headers=PUTUO)
        assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "out_of_scope")
        assert (await api.post("/orders", json=order, headers=STATION)).status_code == 204
        again = await api.post("/orders", json=order, headers=STATION)
        assert (again.status_code, again.json()["code"]) == (409, "order_already_placed")
        assert (await api.post("/orders", headers=HR, json={
            **order, "order_id": "o-2", "site": URUMQI})).status_code == 204
        past = await api.post("/orders", headers=HR, json={
            **order, "order_id": "o-3", "wanted_by": "2000-01-01"})
        assert (past.status_code, past.json()["code"]) == (409, "order_wanted_in_the_past")

        # the HR bureau sees every order, a page at a time; a station only its own sites'
        first = await api.get("/orders", params={"limit": 1}, headers=HR)
        second = await api.get(first.links["next"]["url"], headers=HR)
        assert [r["order_id"] for r in first.json() + second.json()] == ["o-1", "o-2"]
        assert "next" not in second.links
        assert [r["order_id"] for r in (await api.get("/orders", headers=STATION)).json()] \
            == ["o-1"]
        assert (await api.get("/orders", headers=PUTUO)).json() == []
        hidden = await api.get("/orders/o-1", headers=PUTUO)
        assert (hidden.status_code, hidden.json()["code"]) == (403, "out_of_scope")

        # only the HR bureau plans: with an institution training accredited in the occupation
        # (and has not suspended), and the class that institution will schedule
        for event in (
            InstitutionAccredited(institution_id="inst-1", name="阜康职业技能培训学校",
                                  occupations=["electrician"], sites=[FUKANG], accredited_on=DAY),
            InstitutionAccredited(institution_id="inst-2", name="某焊工培训学校",
                                  occupations=["welder"], sites=[FUKANG], accredited_on=DAY),
            InstitutionAccredited(institution_id="inst-3", name="某电工培训学校",
                                  occupations=["electrician"], sites=[FUKANG], accredited_on=DAY),
            InstitutionSuspended(institution_id="inst-3", reason="检查不合格",
                                 suspended_on=DAY),
        ):
            await publish(kafka_bootstrap, topic_prefix, "training", event,
                          stream=f"institution-{event.institution_id}")

        async def known() -> bool:
            rows = await fetch(database, "SELECT count(*) AS n FROM institutions "
                                         "WHERE occupations IS NOT NULL")
            suspended = await fetch(database, "SELECT count(*) AS n FROM institutions "
                                              "WHERE suspended")
            return rows[0]["n"] == 3 and suspended[0]["n"] == 1

        await eventually(known)
        for institution, code in (("inst-9", "institution_not_accredited"),
                                  ("inst-2", "institution_not_accredited_in_occupation"),
                                  ("inst-3", "institution_suspended")):
            refused = await api.post("/orders/o-1/plan", headers=HR, json={
                "institution_id": institution, "class_id": "class-o-1"})
            assert (refused.status_code, refused.json()["code"]) == (409, code)
        plan = {"institution_id": "inst-1", "class_id": "class-o-1"}
        by_station = await api.post("/orders/o-1/plan", json=plan, headers=STATION)
        assert (by_station.status_code, by_station.json()["code"]) == (403, "wrong_role")
        unknown = await api.post("/orders/o-9/plan", json=plan, headers=HR)
        assert (unknown.status_code, unknown.json()["code"]) == (404, "order_unknown")
        assert (await api.post("/orders/o-1/plan", json=plan, headers=HR)).status_code == 204
        replanned = await api.post("/orders/o-1/plan", json=plan, headers=HR)
        assert (replanned.status_code, replanned.json()["code"]) == (409,
                                                                     "order_already_planned")
        planned = (await api.get("/orders/o-1", headers=STATION)).json()
        assert (planned["status"], planned["institution_id"], planned["class_id"],
                planned["headcount"]) == ("planned", "inst-1", "class-o-1", 20)

        # cancelled by its site's station, with the reason; then nothing more is done to it
        reason = {"reason": "用工计划取消"}
        not_theirs = await api.post("/orders/o-1/cancellation", json=reason, headers=PUTUO)
        assert (not_theirs.status_code, not_theirs.json()["code"]) == (403, "out_of_scope")
        assert (await api.post("/orders/o-1/cancellation", json=reason,
                               headers=STATION)).status_code == 204
        twice = await api.post("/orders/o-1/cancellation", json=reason, headers=STATION)
        assert (twice.status_code, twice.json()["code"]) == (409, "order_cancelled")
        cancelled = (await api.get("/orders/o-1", headers=HR)).json()
        assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "用工计划取消")
        assert (await api.get("/orders/o-2", headers=HR)).json()["status"] == "placed"

        published = await read_topic(kafka_bootstrap, events_topic("employment", topic_prefix),
                                     at_least=4)
        types = [dict(r.headers)["ce_type"].decode().split(".")[2] for r in published]
        assert sorted(types) == ["TrainingOrderCancelled", "TrainingOrderPlaced",
                                 "TrainingOrderPlaced", "TrainingOrderPlanned"]
