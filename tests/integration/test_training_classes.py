"""Training's list of classes and its class statistics on the real database and broker: paged
by class id, filtered by institution and state, an institution limited to its own classes,
the roster counted from enrolment's events, and the counts by destination, occupation, level
and state kept as classes are approved, enrolled in and completed."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from services.training.app import SPEC as TRAINING
from shared.contracts import Envelope, Event
from shared.contracts.enrolment import EnrolmentWithdrawn, WorkerEnrolled
from shared.eventsourcing.topics import events_topic
from shared.runtime.paging import MAX_PAGE_SIZE, every_page, next_link
from tests.orgs import FUKANG, auth
from tests.support import eventually, fetch, produce, running_service, signed

pytestmark = pytest.mark.integration

HR, AUDITOR, MEDIA = auth("hr"), auth("auditor"), auth("media")
INST_1, INST_2 = auth("org-inst-1"), auth("org-inst-2")
DAY_1, DAY_2 = "2025-08-04", "2025-08-05"
MIGRATIONS = Path(__file__).resolve().parents[2] / "services/training/migrations"


def accreditation(institution_id: str) -> dict[str, Any]:
    return {"institution_id": institution_id, "name": f"培训学校 {institution_id}",
            "occupations": ["electrician", "welder"], "sites": [FUKANG]}


def schedule(class_id: str, institution_id: str, occupation: str = "electrician"
             ) -> dict[str, Any]:
    return {"class_id": class_id, "institution_id": institution_id,
            "occupation_code": occupation, "target_level": 4, "site": FUKANG, "mode": "night",
            "capacity": 30, "required_minutes": 300, "sessions": [
                {"date": DAY_1, "start_local": "19:30", "end_local": "22:00",
                 "kind": "classroom_theory"},
                {"date": DAY_2, "start_local": "19:30", "end_local": "22:00",
                 "kind": "practical_on_the_job"}]}


async def publish(bootstrap: str, prefix: str, event: Event) -> None:
    """An enrolment event on enrolment's topic, signed as its relay signs it."""
    stream = f"worker-{event.model_dump()['worker_id']}"
    envelope = Envelope(id=uuid.uuid4(), source="/songji/enrolment", type=event.ce_type(),
                        subject=stream, time=datetime.now(UTC),
                        data=event.model_dump(mode="json"), schema_version=1,
                        correlation_id=f"c-{stream}")
    value, headers = signed(envelope)
    await produce(bootstrap, events_topic("enrolment", prefix), value, key=stream.encode(),
                  headers=headers)


def enrolled(n: int, class_id: str) -> WorkerEnrolled:
    return WorkerEnrolled(enrolment_id=f"e-{n}", worker_id=f"w-{n}", class_id=class_id,
                          occupation_code="electrician", target_level=4,
                          enrolled_on=date(2025, 8, 1))


async def ids(api: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[str]:
    first = await api.get("/classes", params=params, headers=headers)
    assert first.status_code == 200, first.text
    whole = await every_page(first, lambda link: api.get(link, headers=headers))
    return [c["class_id"] for c in whole]


async def test_classes_are_listed_a_page_at_a_time_each_institution_its_own(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with running_service(TRAINING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        for institution in ("inst-1", "inst-2"):
            accredited = await api.post("/institutions", json=accreditation(institution),
                                        headers=HR)
            assert accredited.status_code == 204, accredited.text
        for class_id in ("c-3", "c-1", "c-5", "c-2", "c-4"):
            made = await api.post("/classes", json=schedule(class_id, "inst-1"), headers=INST_1)
            assert made.status_code == 204, made.text
        made = await api.post("/classes", headers=INST_2,
                              json=schedule("c-9", "inst-2", occupation="welder"))
        assert made.status_code == 204, made.text
        for class_id in ("c-2", "c-4", "c-9"):
            assert (await api.post(f"/classes/{class_id}/approval", headers=HR)
                    ).status_code == 204

        # 401 without a token; a role that never reads classes is refused
        assert (await api.get("/classes")).status_code == 401
        assert (await api.get("/statistics/classes")).status_code == 401
        media = await api.get("/classes", headers=MEDIA)
        assert (media.status_code, media.json()["code"]) == (403, "wrong_role")

        # paged by class id, two at a time, with the next link carrying the filters
        first = await api.get("/classes", params={"limit": 2}, headers=INST_1)
        assert [c["class_id"] for c in first.json()] == ["c-1", "c-2"]
        link = next_link(first)
        assert link is not None and link.startswith("/classes?")
        assert await ids(api, INST_1, limit=2) == ["c-1", "c-2", "c-3", "c-4", "c-5"]
        assert await ids(api, INST_1, limit=2, state="approved") == ["c-2", "c-4"]
        assert await ids(api, INST_1, state="awaiting_approval") == ["c-1", "c-3", "c-5"]
        approved = await api.get("/classes", params={"state": "approved", "limit": 1},
                                 headers=INST_1)
        assert "state=approved" in (next_link(approved) or "")
        assert (await api.get("/classes", params={"limit": MAX_PAGE_SIZE + 1},
                              headers=HR)).status_code == 422
        assert (await api.get("/classes", params={"state": "running"},
                              headers=HR)).status_code == 422
        assert (await api.get("/classes", params={"after": "not-a-cursor"},
                              headers=HR)).status_code == 422

        # an institution sees its own only, and is refused another's
        assert await ids(api, INST_2) == ["c-9"]
        assert await ids(api, INST_1, institution_id="inst-1") == [
            "c-1", "c-2", "c-3", "c-4", "c-5"]
        other = await api.get("/classes", params={"institution_id": "inst-2"}, headers=INST_1)
        assert (other.status_code, other.json()["code"]) == (403, "out_of_scope")
        # the HR bureau and the auditors see every institution's, filtered as they ask
        assert await ids(api, HR) == ["c-1", "c-2", "c-3", "c-4", "c-5", "c-9"]
        assert await ids(api, AUDITOR, state="approved") == ["c-2", "c-4", "c-9"]
        assert await ids(api, HR, institution_id="inst-2", state="approved") == ["c-9"]
        assert await ids(api, HR, institution_id="inst-2", state="completed") == []

        item = (await api.get("/classes", params={"limit": 1}, headers=HR)).json()[0]
        assert item == {
            "class_id": "c-1", "institution_id": "inst-1", "occupation_code": "electrician",
            "target_level": 4, "site": FUKANG, "mode": "night", "capacity": 30, "enrolled": 0,
            "state": "awaiting_approval", "first_session_date": DAY_1,
            "last_session_date": DAY_2, "approved_on": None, "completed_on": None}

        # the roster, from enrolment's events: two enrolled in c-2, one of them withdrawn and
        # a third enrolled; a repeated delivery counts once
        for event in (enrolled(1, "c-2"), enrolled(2, "c-2"), enrolled(1, "c-2"),
                      EnrolmentWithdrawn(enrolment_id="e-2", worker_id="w-2", class_id="c-2",
                                         reason="回乡", withdrawn_on=date(2025, 8, 2)),
                      enrolled(3, "c-2"), enrolled(4, "c-4")):
            await publish(kafka_bootstrap, topic_prefix, event)

        async def enrolled_counts() -> dict[str, int] | None:
            listed = (await api.get("/classes", params={"state": "approved"},
                                    headers=HR)).json()
            counts = {c["class_id"]: c["enrolled"] for c in listed}
            return counts if counts == {"c-2": 2, "c-4": 1, "c-9": 0} else None

        await eventually(enrolled_counts)

        # c-2 completed: w-1 attended both sessions (met the threshold), w-3 none
        for session_id in ("s001", "s002"):
            register = await api.post(f"/classes/c-2/sessions/{session_id}/attendance",
                                      headers=INST_1, json={"check_ins": [
                                          {"worker_id": "w-1", "minutes": 150,
                                           "method": "face_check"}]})
            assert register.status_code == 200, register.text
        completed = await api.post("/classes/c-2/completion", headers=INST_1)
        assert completed.status_code == 200, completed.text
        assert await ids(api, INST_1, state="completed") == ["c-2"]
        done = (await api.get("/classes", params={"state": "completed"}, headers=INST_1)
                ).json()[0]
        assert done["enrolled"] == 2 and done["completed_on"] is not None

        # the statistics: every class once, in its state's group; trainees and completions
        refused = await api.get("/statistics/classes", headers=INST_1)
        assert (refused.status_code, refused.json()["code"]) == (403, "wrong_role")
        first = await api.get("/statistics/classes", params={"limit": 2}, headers=MEDIA)
        assert first.status_code == 200 and next_link(first) is not None
        groups = await every_page(first, lambda link: api.get(link, headers=MEDIA))
        place = {"province": FUKANG["province"], "city": FUKANG["city"]}
        assert groups == [
            {**place, "occupation_code": "electrician", "level": 4, "state": "approved",
             "classes": 1, "trainees": 1, "met_threshold": 0},
            {**place, "occupation_code": "electrician", "level": 4,
             "state": "awaiting_approval", "classes": 3, "trainees": 0, "met_threshold": 0},
            {**place, "occupation_code": "electrician", "level": 4, "state": "completed",
             "classes": 1, "trainees": 2, "met_threshold": 1},
            {**place, "occupation_code": "welder", "level": 4, "state": "approved",
             "classes": 1, "trainees": 0, "met_threshold": 0}]
        assert not any("worker" in key for group in groups for key in group)
        truth = await fetch(database, """
            SELECT province, city, occupation_code, target_level AS level, state,
                   count(*)::integer AS classes, sum(enrolled)::integer AS trainees,
                   sum(met_threshold)::integer AS met_threshold
            FROM class_runs GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5""")
        assert [dict(r) for r in truth] == groups

        # a store from before the list: the migration's backfill gives the same answers
        listed = await ids_and_items(api)
        conn = await asyncpg.connect(database)
        try:
            await conn.execute("DROP TABLE class_counts; UPDATE class_runs SET "
                               "first_session_date = NULL, last_session_date = NULL, "
                               "enrolled = 0, met_threshold = 0")
            await conn.execute((MIGRATIONS / "0004_class_list.sql").read_text())
        finally:
            await conn.close()
        assert await ids_and_items(api) == listed
        assert await every_page(await api.get("/statistics/classes", headers=MEDIA),
                                lambda link: api.get(link, headers=MEDIA)) == groups


async def ids_and_items(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    first = await api.get("/classes", params={"limit": 4}, headers=HR)
    assert first.status_code == 200, first.text
    items: list[dict[str, Any]] = await every_page(first, lambda link: api.get(link, headers=HR))
    assert len(items) == 6
    return items
