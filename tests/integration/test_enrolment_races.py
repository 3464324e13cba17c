"""Commands that race through enrolment's API on the real servers: the kit's pipeline
(shared/runtime/commands.py) settles each race inside the service, so no caller is answered
409 ``concurrent_update``. The last places of a class go to exactly as many workers as it has
places (the class row is locked while each enrolment counts them); two surveys of one worker,
both decided on the same version of its stream, are both recorded (the loser is decided
again on the winner's state)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest

from services.enrolment.app import SPEC as ENROLMENT
from shared.calendar import programme_today
from shared.contracts.common import WorkSite
from shared.contracts.training import ClassApproved, ClassScheduled, SessionPlan
from shared.eventsourcing.store import EventStore, StoredEvent
from tests.integration.test_funding_service import Source
from tests.integration.test_skeleton_services import register, registration
from tests.orgs import FUKANG, PUTUO, auth
from tests.support import eventually, fetch, running_service

pytestmark = pytest.mark.integration

STATION = auth("station-fukang")
CAPACITY, WORKERS = 5, 12


async def approved_class(src: Source, database: str, class_id: str, capacity: int) -> None:
    """A class training scheduled and the HR bureau approved, once enrolment has learnt it."""
    first = programme_today() + timedelta(days=7)
    sessions = [SessionPlan(session_id="s1", date=first, start_local="19:00", end_local="21:00",
                            kind="classroom_theory", minutes=120)]
    await src.send("training", f"class-{class_id}", ClassScheduled(
        class_id=class_id, institution_id="inst-1", occupation_code="electrician",
        target_level=5, site=WorkSite(**FUKANG), mode="night", capacity=capacity,
        sessions=sessions, required_minutes=120))
    await src.send("training", f"class-{class_id}", ClassApproved(
        class_id=class_id, approved_on=programme_today()))

    async def known() -> bool:
        rows = await fetch(database, "SELECT approved FROM class_views WHERE class_id = $1",
                           class_id)
        return bool(rows) and rows[0]["approved"]
    await eventually(known, seconds=30)


async def test_twelve_workers_for_five_places_five_enrolled_seven_refused_class_full(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    src = Source(kafka_bootstrap, topic_prefix)
    async with running_service(ENROLMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, enrolment):
        workers = [await register(enrolment, 600 + i) for i in range(WORKERS)]
        await approved_class(src, database, "race-1", CAPACITY)

        answers = await asyncio.gather(*(
            enrolment.post("/enrolments", headers=STATION,
                           json={"worker_id": w, "class_id": "race-1"}) for w in workers))

        outcomes = Counter((a.status_code, a.json().get("code")) for a in answers)
        assert outcomes == {(201, None): CAPACITY, (409, "class_full"): WORKERS - CAPACITY}, \
            [a.text for a in answers]
        enrolled = {a.json()["enrolment_id"] for a in answers if a.status_code == 201}
        live = await fetch(database, "SELECT enrolment_id FROM enrolments "
                                     "WHERE class_id = 'race-1' AND withdrawn_on IS NULL")
        assert {r["enrolment_id"] for r in live} == enrolled
        events = await fetch(database, "SELECT count(*) AS n FROM events "
                                       "WHERE event_type LIKE '%.WorkerEnrolled.%'")
        assert events[0]["n"] == CAPACITY


async def test_two_surveys_of_one_worker_decided_on_the_same_version_are_both_recorded(
    database: str, kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_service(ENROLMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (app, enrolment):
        worker_id = await register(enrolment, 700)
        stream = f"worker-{worker_id}"
        store: EventStore = app.state.ctx.store
        read_stream = store.read_stream
        # Both surveys read the worker's stream before either appends: both decide on
        # version 1, so one of the appends must lose the race (what a busy station's double
        # click does by chance, made certain here). Later reads are not held.
        both_read = asyncio.Barrier(2)
        reads: list[int] = []

        async def read_in_step(stream_id: str, **kwargs: Any) -> list[StoredEvent]:
            stored = await read_stream(stream_id, **kwargs)
            if stream_id == stream:
                reads.append(len(stored))
                if len(reads) <= 2:
                    await asyncio.wait_for(both_read.wait(), timeout=10)
            return stored

        monkeypatch.setattr(store, "read_stream", read_in_step)

        def survey(occupation: str) -> Any:
            return enrolment.post(f"/workers/{worker_id}/intake-surveys", headers=STATION,
                                  json={"desired_occupations": [occupation],
                                        "availability": ["night"],
                                        "earliest_start": "2025-09-01"})
        answers: list[httpx.Response] = await asyncio.gather(survey("electrician"),
                                                             survey("welder"))

        assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
        assert reads[:2] == [1, 1]  # both first decided on the registration alone
        assert len(reads) >= 3  # the loser read the stream again and was decided again
        assert len({a.json()["survey_id"] for a in answers}) == 2
        recorded = await fetch(database, "SELECT version, data->>'survey_id' AS survey_id "
                                         "FROM events WHERE stream_id = $1 ORDER BY version",
                               stream)
        assert [r["version"] for r in recorded] == [1, 2, 3]
        assert {r["survey_id"] for r in recorded[1:]} == {a.json()["survey_id"] for a in answers}
        record = await enrolment.get(f"/workers/{worker_id}/training-record", headers=STATION)
        assert sorted(s["desired_occupations"][0] for s in record.json()["surveys"]) == \
            ["electrician", "welder"]


async def test_concurrent_registrations_of_one_number_register_one_worker(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """The later registrations wait for the first (a lock on the number's keyed index), then
    are refused as any later one is: naming the worker only to a station that may see it."""
    async with running_service(ENROLMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, enrolment):
        same_station = await asyncio.gather(*(
            enrolment.post("/workers", json=registration(800), headers=STATION)
            for _ in range(4)))
        [created] = [a for a in same_station if a.status_code == 201]
        worker_id = created.json()["worker_id"]
        refused = [(a.status_code, a.json()) for a in same_station if a is not created]
        assert refused == [(409, {"code": "worker_already_registered", "worker_id": worker_id,
                                  "message": a["message"]}) for _, a in refused]

        # a station elsewhere and the worker's own: whichever registers first, the other
        # is not told the worker's id (neither may see the other's worker)
        elsewhere = await asyncio.gather(
            enrolment.post("/workers", json={**registration(801), "work_site": PUTUO},
                           headers=auth("station-putuo")),
            enrolment.post("/workers", json=registration(801), headers=STATION))
        assert sorted(a.status_code for a in elsewhere) == [201, 409], \
            [a.text for a in elsewhere]
        [winner] = [a for a in elsewhere if a.status_code == 201]
        [loser] = [a for a in elsewhere if a.status_code == 409]
        assert loser.json() == {"code": "worker_already_registered",
                                "message": loser.json()["message"]}
        assert winner.json()["worker_id"] not in loser.text

        identities = await fetch(database, "SELECT worker_id FROM worker_identities")
        assert {r["worker_id"] for r in identities} == {worker_id, winner.json()["worker_id"]}
        registered = await fetch(database, "SELECT count(*) AS n FROM events "
                                           "WHERE event_type LIKE '%.WorkerRegistered.%'")
        assert registered[0]["n"] == 2
