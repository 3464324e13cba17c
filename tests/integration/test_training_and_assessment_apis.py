"""Training's and assessment's APIs on the real database: refusals store nothing."""

from __future__ import annotations

import asyncpg
import pytest

from services.assessment.app import SPEC as ASSESSMENT
from services.training.app import SPEC as TRAINING
from tests.orgs import FUKANG, auth
from tests.support import running_service

pytestmark = pytest.mark.integration

HR, INSTITUTION = auth("hr"), auth("org-inst-1")
ACCREDIT = {"institution_id": "inst-1", "name": "某培训学校", "occupations": ["electrician"],
            "sites": [FUKANG]}
CLASS = {"class_id": "class-1", "institution_id": "inst-1", "occupation_code": "electrician",
         "target_level": 5, "site": FUKANG, "mode": "weekend", "capacity": 30,
         "sessions": [{"date": "2025-07-26", "start_local": "09:00", "end_local": "12:00",
                       "kind": "practical_on_the_job"}], "required_minutes": 180}


async def events_in(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM events")
    finally:
        await conn.close()


async def test_training_refusals_name_the_field_or_the_rule_and_store_nothing(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with running_service(TRAINING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, training):
        assert (await training.post("/institutions", json=ACCREDIT)).status_code == 401
        wrong = await training.post("/institutions", json=ACCREDIT, headers=INSTITUTION)
        assert (wrong.status_code, wrong.json()["code"]) == (403, "wrong_role")
        assert (await training.post("/institutions", json=ACCREDIT, headers=HR)).status_code \
            == 204
        stored = await events_in(database)

        malformed = await training.post("/classes", json={**CLASS, "capacity": 0},
                                        headers=INSTITUTION)
        assert malformed.status_code == 422
        assert [e["loc"] for e in malformed.json()["detail"]] == [["body", "capacity"]]

        suspended = await training.post("/institutions/inst-1/suspension", headers=HR,
                                        json={"reason": "监督检查"})
        assert suspended.status_code == 204
        stored += 1
        refused = await training.post("/classes", json=CLASS, headers=INSTITUTION)
        assert (refused.status_code, refused.json()["code"]) == (409, "institution_suspended")
        unknown = await training.post("/classes/nope/attendance/x/void", headers=INSTITUTION,
                                      json={"reason": "x"})
        assert (unknown.status_code, unknown.json()["code"]) == (404, "class_unknown")
        assert await events_in(database) == stored

        occupations = (await training.get("/occupations", headers=auth("media"))).json()
        assert {"electrician", "maternity_nurse"} <= {o["code"] for o in occupations}


async def test_assessment_refuses_an_unknown_class_and_foreign_bodies(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with running_service(ASSESSMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, assessment):
        body = {"body_id": "body-1", "name": "鉴定中心", "code": "YNSK"}
        assert (await assessment.post("/bodies", json=body, headers=HR)).status_code == 204
        bad_code = await assessment.post("/bodies", headers=HR,
                                         json={**body, "body_id": "b2", "code": "lower"})
        assert (bad_code.status_code, bad_code.json()["detail"][0]["loc"]) == \
            (422, ["body", "code"])
        plan = {"assessment_id": "as-1", "body_id": "body-1", "class_id": "class-9",
                "assessor_ids": ["a-1"], "scheduled_on": "2025-08-10"}
        other_body = await assessment.post("/assessments", json={**plan, "body_id": "body-2"},
                                           headers=auth("org-body-1"))
        assert (other_body.status_code, other_body.json()["code"]) == (403, "out_of_scope")
        refused = await assessment.post("/assessments", json=plan, headers=auth("org-body-1"))
        assert (refused.status_code, refused.json()["code"]) == (409, "class_not_completed")
        assert await events_in(database) == 1


# A string or list beyond its bound (shared/contracts/bounds.py) is refused before anything is
# stored: an event made of it could exceed the broker's message size and stop the relay.
# 300 KB stays under the request-size limit, so the field's own bound is what refuses it; a
# 1.2 MB one is refused whole (413) before it is even read.
@pytest.mark.parametrize("size", [300_000, 1_200_000])
async def test_an_oversized_affiliation_or_trainer_id_is_refused_and_nothing_stored(
    database: str, kafka_bootstrap: str, topic_prefix: str, size: int
) -> None:
    huge = "x" * size
    async with running_service(ASSESSMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, assessment):
        body = {"body_id": "body-1", "name": "鉴定中心", "code": "YNSK"}
        assert (await assessment.post("/bodies", json=body, headers=HR)).status_code == 204
        assessor = await assessment.post("/bodies/body-1/assessors", headers=HR,
                                         json={"assessor_id": "a-1", "affiliations": [huge]})
        assert assessor.status_code in (413, 422)
        if size < 1_000_000:
            assert assessor.status_code == 422
            assert assessor.json()["detail"][0]["loc"] == ["body", "affiliations", 0]
        many = await assessment.post("/bodies/body-1/assessors", headers=HR, json={
            "assessor_id": "a-1", "affiliations": ["x"] * 10_000})
        assert many.status_code == 422
        assert await events_in(database) == 1

    async with running_service(TRAINING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, training):
        assert (await training.post("/institutions", json=ACCREDIT, headers=HR)).status_code \
            == 204
        stored = await events_in(database)
        refused = await training.post("/classes", headers=INSTITUTION,
                                      json={**CLASS, "trainer_ids": [huge]})
        assert refused.status_code in (413, 422)
        if size < 1_000_000:
            assert refused.status_code == 422
            assert refused.json()["detail"][0]["loc"] == ["body", "trainer_ids", 0]
        assert await events_in(database) == stored


async def test_a_2000_character_correlation_id_is_not_stored_as_given(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    given = "c" * 2000
    async with running_service(ASSESSMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, assessment):
        body = {"body_id": "body-1", "name": "鉴定中心", "code": "YNSK"}
        answer = await assessment.post("/bodies", json=body,
                                       headers={**HR, "X-Correlation-ID": given})
        assert answer.status_code == 204
        used = answer.headers["X-Correlation-ID"]
        kept = await assessment.post("/bodies", json={**body, "body_id": "body-2"},
                                     headers={**HR, "X-Correlation-ID": "run-7:step.2"})
        assert kept.headers["X-Correlation-ID"] == "run-7:step.2"
    conn = await asyncpg.connect(database)
    try:
        stored = [r["c"] for r in await conn.fetch(
            "SELECT metadata->>'correlation_id' AS c FROM events ORDER BY position")]
    finally:
        await conn.close()
    assert stored == [used, "run-7:step.2"]
    assert used != given and len(used) == 36
