"""The worker's journey across enrolment, training and assessment on the real servers.

Register, survey, accredit, schedule, approve, enrol, attend, complete, assess, certify; then
every event on each topic carries its CloudEvents headers, the acting organisation, and no
personal data, and its data validates against its committed schema with formats asserted.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
import pytest

from services.assessment.app import SPEC as ASSESSMENT
from services.enrolment.app import SPEC as ENROLMENT
from services.enrolment.domain.national_id import check_digit
from services.training.app import SPEC as TRAINING
from shared.calendar import programme_today
from shared.eventsourcing.topics import events_topic
from tests.committed_schemas import schema_errors
from tests.orgs import FUKANG, auth
from tests.support import eventually, header, read_topic, running_service

pytestmark = pytest.mark.integration

NAME, MOBILE, EMPLOYER = "李四妹", "15912345678", "阜康某农业公司"
FIRST17 = "53012819950612002"
NATIONAL_ID = FIRST17 + check_digit(FIRST17)
HR, STATION, INSTITUTION, BODY = (auth("hr", "hr-officer-1"), auth("station-fukang", "liaison-7"),
                                  auth("org-inst-1", "teacher-admin"), auth("org-body-1", "exam-1"))


async def until_status(call: Callable[[], Awaitable[httpx.Response]], expected: int
                       ) -> httpx.Response:
    """Retry a command until the service has learnt what it needs from the bus."""
    last: list[httpx.Response] = []

    async def attempt() -> bool:
        response = await call()
        last[:] = [response]
        return response.status_code == expected
    try:
        await eventually(attempt, seconds=30, interval=0.2)
    except AssertionError:
        raise AssertionError(f"expected {expected}, last: {last[0].status_code} "
                             f"{last[0].text}") from None
    return last[0]


async def test_from_registration_to_certificate(
    new_database: Callable[[], Awaitable[str]], kafka_bootstrap: str, topic_prefix: str
) -> None:
    common = dict(bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    today = programme_today()
    day1, day2 = today - timedelta(days=3), today - timedelta(days=2)
    async with (running_service(ENROLMENT, database_url=await new_database(), **common)
                as (_, enrolment),
                running_service(TRAINING, database_url=await new_database(), **common)
                as (_, training),
                running_service(ASSESSMENT, database_url=await new_database(), **common)
                as (_, assessment)):
        # -- access control on the way in
        registration = {"name": NAME, "national_id": NATIONAL_ID, "mobile": MOBILE,
                        "hometown_county": "禄劝彝族苗族自治县", "hometown_township": "翠华镇",
                        "household_county": "禄劝彝族苗族自治县", "work_site": FUKANG,
                        "employer": EMPLOYER}
        assert (await enrolment.post("/workers", json=registration)).status_code == 401
        denied = await enrolment.post("/workers", json=registration, headers=auth("media"))
        assert (denied.status_code, denied.json()["code"]) == (403, "wrong_role")
        denied = await enrolment.post("/workers", json=registration,
                                      headers=auth("station-putuo"))
        assert (denied.status_code, denied.json()["code"]) == (403, "out_of_scope")

        # -- register and survey
        response = await enrolment.post("/workers", json=registration, headers=STATION)
        assert response.status_code == 201, response.text
        worker_id = response.json()["worker_id"]
        again = await enrolment.post("/workers", json=registration, headers=STATION)
        assert (again.status_code, again.json()["worker_id"]) == (409, worker_id)
        survey = await enrolment.post(
            f"/workers/{worker_id}/intake-surveys", headers=STATION,
            json={"desired_occupations": ["electrician"], "availability": ["night"],
                  "earliest_start": day1.isoformat()})
        assert survey.status_code == 201, survey.text

        # -- accredit, register the body, schedule
        accredit = await training.post("/institutions", headers=HR, json={
            "institution_id": "inst-1", "name": "云南某职业技能培训学校",
            "occupations": ["electrician"], "sites": [FUKANG], "partners": ["阜康某电力公司"]})
        assert accredit.status_code == 204, accredit.text
        assert (await assessment.post("/bodies", headers=HR, json={
            "body_id": "body-1", "name": "云南省职业技能鉴定中心", "code": "YNSK"})
        ).status_code == 204
        for assessor in ("assessor-1", "trainer-1"):
            added = await assessment.post("/bodies/body-1/assessors", headers=BODY,
                                          json={"assessor_id": assessor})
            assert added.status_code == 204, added.text
        sessions = [{"date": d.isoformat(), "start_local": "19:00", "end_local": "21:00",
                     "kind": "classroom_theory"} for d in (day1, day2)]
        class_body = {"class_id": "class-1", "institution_id": "inst-1",
                      "occupation_code": "electrician", "target_level": 5, "site": FUKANG,
                      "mode": "night", "capacity": 2, "sessions": sessions,
                      "required_minutes": 240, "trainer_ids": ["trainer-1"]}
        other = await training.post("/classes", json=class_body, headers=auth("org-inst-2"))
        assert (other.status_code, other.json()["code"]) == (403, "out_of_scope")
        scheduled = await training.post("/classes", json=class_body, headers=INSTITUTION)
        assert scheduled.status_code == 204, scheduled.text

        # -- enrolment waits for approval, then enrols
        enrol = {"worker_id": worker_id, "class_id": "class-1"}
        refused = await until_status(
            lambda: enrolment.post("/enrolments", json=enrol, headers=STATION), 409)
        assert refused.json()["code"] in {"class_unknown", "class_not_approved"}
        assert (await training.post("/classes/class-1/approval", headers=HR)).status_code == 204
        await until_status(lambda: enrolment.post("/enrolments", json=enrol, headers=STATION),
                           201)

        # -- attendance once training knows the roster, then completion
        async def attend(session_id: str, minutes: int) -> httpx.Response:
            return await training.post("/classes/class-1/attendance", headers=INSTITUTION,
                                       json={"session_id": session_id, "worker_id": worker_id,
                                             "minutes": minutes, "method": "face_check"})
        await until_status(lambda: attend("s001", 120), 201)
        too_long = await attend("s002", 121)
        assert (too_long.status_code, too_long.json()["code"]) == (409, "minutes_exceed_session")
        assert (await attend("s002", 100)).status_code == 201
        completed = await training.post("/classes/class-1/completion", headers=INSTITUTION)
        assert completed.status_code == 200, completed.text
        [outcome] = completed.json()["trainees"]
        assert (outcome["worker_id"], outcome["attended_minutes"], outcome["met_threshold"]) == \
            (worker_id, 220, True)

        # -- assessment: the trainer must recuse; an independent assessor certifies
        plan = {"assessment_id": "as-1", "body_id": "body-1", "class_id": "class-1",
                "assessor_ids": ["trainer-1"], "scheduled_on": today.isoformat()}
        recuse = await until_status(lambda: _recusal(assessment, plan), 409)
        assert (recuse.json()["code"], recuse.json()["reason"]) == ("assessor_must_recuse",
                                                                    "taught_the_class")
        plan["assessor_ids"] = ["assessor-1"]
        assert (await assessment.post("/assessments", json=plan, headers=BODY)).status_code == 204
        result = await assessment.post("/assessments/as-1/results", headers=BODY, json={
            "worker_id": worker_id, "theory_score": 82, "practical_score": 77})
        assert result.status_code == 201, result.text
        number = result.json()["certificate_number"]
        assert number.startswith(f"YNSK-{today.year}-000001-")
        # -- who may read the results: its body, and those who supervise (a read of its own)
        for reader in (BODY, HR, auth("auditor")):
            read = await assessment.get("/assessments/as-1/results", headers=reader)
            assert read.status_code == 200, read.text
            assert number in read.text
        refused = await assessment.get("/assessments/as-1/results", headers=STATION)
        assert (refused.status_code, refused.json()["code"]) == (403, "wrong_role")

        # -- enrolment learns of the certificate
        async def certified() -> bool:
            record = (await enrolment.get(f"/workers/{worker_id}/training-record",
                                          headers=STATION)).json()
            return [c["certificate_number"] for c in record["certificates"]] == [number]
        await eventually(certified, seconds=30)

        # -- the events on each topic
        expected = {"enrolment": 3, "training": 6, "assessment": 6}
        validated: set[str] = set()
        for service, at_least in expected.items():
            records = await read_topic(kafka_bootstrap, events_topic(service, topic_prefix),
                                       at_least=at_least)
            assert len(records) >= at_least, service
            for record in records:
                for name in ("ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time",
                             "ce_subject"):
                    assert header(record, name), (service, name)
                assert header(record, "ce_actororg") in {"hr", "station-fukang", "org-inst-1",
                                                         "org-body-1"}
                # each command was sent with an officer's own token: that officer acted
                assert header(record, "ce_actoruser") in {"hr-officer-1", "liaison-7",
                                                          "teacher-admin", "exam-1"}
                text = record.value.decode() + json.dumps(
                    [(k, v.decode()) for k, v in record.headers], ensure_ascii=False)
                for secret in (NAME, NATIONAL_ID, MOBILE, EMPLOYER, "翠华镇"):
                    assert secret not in text, (service, header(record, "ce_type"))
                # the data means what its committed schema declares, formats asserted
                ce_type = header(record, "ce_type")
                assert ce_type is not None
                assert schema_errors(ce_type, json.loads(record.value)) == []
                validated.add(ce_type)
            types = {header(r, "ce_type").split(".")[2] for r in records}  # type: ignore[union-attr]
            if service == "assessment":
                assert "SkillLevelCertified" in types
            if service == "training":
                assert {"ClassScheduled", "ClassApproved", "AttendanceRecorded",
                        "ClassCompleted"} <= types
            if service == "enrolment":
                assert {"WorkerRegistered", "IntakeSurveyRecorded", "WorkerEnrolled"} <= types

        # every type the journey published was validated, ClassScheduled's local times too
        assert {"songji.training.ClassScheduled.v1", "songji.enrolment.WorkerEnrolled.v1",
                "songji.assessment.AssessmentResultRecorded.v1",
                "songji.assessment.SkillLevelCertified.v1"} <= validated, validated

        counts = await enrolment.get("/statistics/enrolments", headers=auth("media"))
        assert counts.status_code == 200
        assert counts.json()[0]["workers"] == 1 and "worker_id" not in counts.json()[0]


async def _recusal(assessment: httpx.AsyncClient, plan: dict[str, object]) -> httpx.Response:
    response = await assessment.post("/assessments", json=plan, headers=BODY)
    if response.status_code == 409 and response.json()["code"] == "class_not_completed":
        return httpx.Response(425)  # not yet: keep waiting for ClassCompleted
    return response
