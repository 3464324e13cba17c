"""The assessment bodies' task queue through assessment's API on the real servers: the
completed classes with trainees to assess and no assessment scheduled, a page at a time; a
class leaves it when an assessment is scheduled for it, and one where nobody met the
attendance threshold is never in it."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from services.assessment.app import SPEC as ASSESSMENT
from shared.calendar import programme_today
from shared.contracts.common import WorkSite
from shared.contracts.training import ClassCompleted, ClassScheduled, SessionPlan, TraineeOutcome
from tests.integration.test_funding_service import Source
from tests.orgs import FUKANG, auth
from tests.support import eventually, running_service

pytestmark = pytest.mark.integration

HR, BODY, INSTITUTION = auth("hr"), auth("org-body-1"), auth("org-inst-1")
QUEUE = "/classes/awaiting-assessment"


async def completed(src: Source, class_id: str, *, met_threshold: bool) -> None:
    today = programme_today()
    site, day = WorkSite(**FUKANG), today - timedelta(days=2)
    await src.send("training", f"class-{class_id}", ClassScheduled(
        class_id=class_id, institution_id="inst-1", occupation_code="electrician",
        target_level=4, site=site, mode="night", capacity=30, required_minutes=120,
        trainer_ids=["trainer-1"],
        sessions=[SessionPlan(session_id="s1", date=day, start_local="19:00",
                              end_local="21:00", kind="classroom_theory", minutes=120)]))
    await src.send("training", f"class-{class_id}", ClassCompleted(
        class_id=class_id, institution_id="inst-1", occupation_code="electrician",
        target_level=4, site=site, first_session_date=day,
        completed_on=today - timedelta(days=1), threshold_percent=80, trainees=[
            TraineeOutcome(worker_id=f"{class_id}-w{i}", attended_minutes=120 if met_threshold
                           else 10, required_minutes=120,
                           attendance_ratio=1.0 if met_threshold else 0.08,
                           met_threshold=met_threshold) for i in range(3)]))


async def test_the_queue_lists_completed_classes_until_an_assessment_is_scheduled(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    src = Source(kafka_bootstrap, topic_prefix)
    async with running_service(ASSESSMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, assessment):
        assert (await assessment.post("/bodies", headers=HR, json={
            "body_id": "body-1", "name": "鉴定中心", "code": "YNSK"})).status_code == 204
        assert (await assessment.post("/bodies/body-1/assessors", headers=BODY,
                                      json={"assessor_id": "assessor-1"})).status_code == 204
        for class_id, met in (("c1", True), ("c2", True), ("c3", False)):
            await completed(src, class_id, met_threshold=met)

        async def all_known() -> bool:
            conn = await asyncpg.connect(database)
            try:
                return await conn.fetchval("SELECT count(*) FROM class_views "
                                           "WHERE completed_on IS NOT NULL") == 3
            finally:
                await conn.close()
        await eventually(all_known, seconds=30)

        # a page at a time, by class id; the class nobody may be assessed from is not there
        first = await assessment.get(QUEUE, headers=BODY, params={"limit": 1})
        assert first.status_code == 200, first.text
        assert [c["class_id"] for c in first.json()] == ["c1"]
        assert first.json()[0]["eligible_trainees"] == 3
        assert first.json()[0]["occupation_code"] == "electrician"
        assert "worker" not in first.text  # no trainee named
        following = first.links["next"]["url"]
        second = await assessment.get(following, headers=BODY)
        assert [c["class_id"] for c in second.json()] == ["c2"]
        assert "next" not in second.links
        assert [c["class_id"] for c in (await assessment.get(QUEUE, headers=HR)).json()] == [
            "c1", "c2"]

        # scheduled: the class leaves the queue, in the command's own transaction
        scheduled = await assessment.post("/assessments", headers=BODY, json={
            "assessment_id": "as-1", "body_id": "body-1", "class_id": "c1",
            "assessor_ids": ["assessor-1"], "scheduled_on": programme_today().isoformat()})
        assert scheduled.status_code == 204, scheduled.text
        assert [c["class_id"] for c in (await assessment.get(QUEUE, headers=BODY)).json()] == [
            "c2"]

        # who may read it
        assert (await assessment.get(QUEUE)).status_code == 401
        refused = await assessment.get(QUEUE, headers=INSTITUTION)
        assert refused.status_code == 403, refused.text
