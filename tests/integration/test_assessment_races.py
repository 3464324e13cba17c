"""Results recorded at the same time through assessment's API on the real servers: each is
recorded, none answered 409 ``concurrent_update``, and the passes are numbered one after the
other, each number once. The body's certificate sequence, locked from the look-up to the
commit, serialises its results: each is decided on the state the one before committed. A
result retried with its Idempotency-Key gets its first answer, certificate number included."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from services.assessment.app import SPEC as ASSESSMENT
from services.assessment.domain.certificate_number import certificate_number
from shared.calendar import programme_today
from shared.contracts.common import WorkSite
from shared.contracts.training import ClassCompleted, ClassScheduled, SessionPlan, TraineeOutcome
from shared.runtime.idempotency import HEADER, REPLAYED_HEADER
from tests.integration.test_funding_service import Source
from tests.orgs import FUKANG, auth
from tests.support import eventually, running_service

pytestmark = pytest.mark.integration

HR, BODY = auth("hr"), auth("org-body-1")
CANDIDATES = [f"w-{i}" for i in range(6)]


async def completed_class(src: Source, database: str) -> None:
    """A class every candidate completed, once assessment has learnt it."""
    today = programme_today()
    site = WorkSite(**FUKANG)
    day = today - timedelta(days=2)
    await src.send("training", "class-c1", ClassScheduled(
        class_id="c1", institution_id="inst-1", occupation_code="electrician", target_level=5,
        site=site, mode="night", capacity=30, required_minutes=120, trainer_ids=["trainer-1"],
        sessions=[SessionPlan(session_id="s1", date=day, start_local="19:00",
                              end_local="21:00", kind="classroom_theory", minutes=120)]))
    await src.send("training", "class-c1", ClassCompleted(
        class_id="c1", institution_id="inst-1", occupation_code="electrician", target_level=5,
        site=site, first_session_date=day, completed_on=today - timedelta(days=1),
        threshold_percent=80, trainees=[
            TraineeOutcome(worker_id=w, attended_minutes=120, required_minutes=120,
                           attendance_ratio=1.0, met_threshold=True) for w in CANDIDATES]))

    async def known() -> bool:
        conn = await asyncpg.connect(database)
        try:
            return await conn.fetchval(
                "SELECT completed_on IS NOT NULL FROM class_views WHERE class_id = 'c1'") or False
        finally:
            await conn.close()
    await eventually(known, seconds=30)


async def test_results_recorded_at_once_are_all_recorded_and_numbered_in_turn(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    src = Source(kafka_bootstrap, topic_prefix)
    today = programme_today()
    async with running_service(ASSESSMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, assessment):
        assert (await assessment.post("/bodies", headers=HR, json={
            "body_id": "body-1", "name": "鉴定中心", "code": "YNSK"})).status_code == 204
        assert (await assessment.post("/bodies/body-1/assessors", headers=BODY,
                                      json={"assessor_id": "assessor-1"})).status_code == 204
        await completed_class(src, database)
        scheduled = await assessment.post("/assessments", headers=BODY, json={
            "assessment_id": "as-1", "body_id": "body-1", "class_id": "c1",
            "assessor_ids": ["assessor-1"], "scheduled_on": today.isoformat()})
        assert scheduled.status_code == 204, scheduled.text

        # the last candidate fails: a fail uses no number
        answers = await asyncio.gather(*(
            assessment.post("/assessments/as-1/results", headers=BODY, json={
                "worker_id": w, "theory_score": 80 if w != CANDIDATES[-1] else 10,
                "practical_score": 75}) for w in CANDIDATES))

        assert [a.status_code for a in answers] == [201] * len(CANDIDATES), \
            [a.text for a in answers]
        assert len({a.json()["result_id"] for a in answers}) == len(CANDIDATES)
        numbers = sorted(a.json()["certificate_number"] for a in answers[:-1])
        assert numbers == [certificate_number("YNSK", today.year, n)
                           for n in range(1, len(CANDIDATES))]
        assert answers[-1].json()["certificate_number"] is None

        read = (await assessment.get("/assessments/as-1/results", headers=BODY)).json()
        assert sorted(c["certificate_number"] for c in read["certificates"]) == numbers
        assert len(read["results"]) == len(CANDIDATES)

        # the failed result voided and recorded again, retried with its Idempotency-Key: the
        # retry gets the first answer (its certificate number), and nothing is recorded twice
        failed = answers[-1].json()["result_id"]
        assert (await assessment.post(f"/assessments/as-1/results/{failed}/void", headers=BODY,
                                      json={"reason": "marking error"})).status_code == 204
        keyed = {**BODY, HEADER: "result-again"}
        again = [await assessment.post("/assessments/as-1/results", headers=keyed, json={
            "worker_id": CANDIDATES[-1], "theory_score": 80, "practical_score": 75})
            for _ in range(2)]
        assert [a.status_code for a in again] == [201, 201]
        assert again[1].content == again[0].content
        assert again[1].headers[REPLAYED_HEADER] == "true"
        assert again[0].json()["certificate_number"] == \
            certificate_number("YNSK", today.year, len(CANDIDATES))
        read = (await assessment.get("/assessments/as-1/results", headers=BODY)).json()
        assert len(read["results"]) == len(CANDIDATES) + 1
