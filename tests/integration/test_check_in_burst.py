"""A whole class checks in at once: every check-in recorded once, none refused for a race.

The roster is training's read model of enrolment's ``WorkerEnrolled``; these tests write it
directly into training's database, as its consumer would, so that only training runs.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from services.training.app import SPEC as TRAINING
from tests.orgs import FUKANG, auth
from tests.support import fetch, running_service

pytestmark = pytest.mark.integration

HR, INSTITUTION = auth("hr"), auth("org-inst-1")
ACCREDIT = {"institution_id": "inst-1", "name": "某培训学校", "occupations": ["electrician"],
            "sites": [FUKANG]}
SESSIONS = [{"date": f"2025-07-{day}", "start_local": "09:00", "end_local": "12:00",
             "kind": "practical_on_the_job"} for day in (26, 27)]


def a_class(class_id: str) -> dict:
    return {"class_id": class_id, "institution_id": "inst-1", "occupation_code": "electrician",
            "target_level": 5, "site": FUKANG, "mode": "weekend", "capacity": 200,
            "sessions": SESSIONS, "required_minutes": 300}


async def open_class(training, database: str, class_id: str, trainees: list[str]) -> None:
    """An approved class with ``trainees`` on its roster; accredits the institution once."""
    if (await training.get("/classes/none/sheet", headers=HR)).status_code == 404:
        await training.post("/institutions", json=ACCREDIT, headers=HR)
    assert (await training.post("/classes", json=a_class(class_id),
                                headers=INSTITUTION)).status_code == 204
    assert (await training.post(f"/classes/{class_id}/approval",
                                headers=HR)).status_code == 204
    conn = await asyncpg.connect(database)
    try:
        await conn.executemany(
            "INSERT INTO roster (enrolment_id, class_id, worker_id) VALUES ($1, $2, $3)",
            [(uuid.uuid4().hex, class_id, w) for w in trainees])
    finally:
        await conn.close()


def check_in(worker: str, session: str = "s001", minutes: int = 180) -> dict:
    return {"session_id": session, "worker_id": worker, "minutes": minutes,
            "method": "face_check"}


async def test_fifty_trainees_checking_in_at_once_are_all_recorded_once(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    trainees = [f"w-{n:03d}" for n in range(50)]
    async with running_service(TRAINING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, training):
        await open_class(training, database, "burst", trainees)
        answers = await asyncio.gather(*(
            training.post("/classes/burst/attendance", json=check_in(w), headers=INSTITUTION)
            for w in trainees))
        assert [a.status_code for a in answers] == [201] * 50, \
            [a.json() for a in answers if a.status_code != 201]
        # The same trainee twice at once: one record, and the other is told it exists.
        twice = await asyncio.gather(*(
            training.post("/classes/burst/attendance", json=check_in("w-000", "s002"),
                          headers=INSTITUTION) for _ in range(2)))
        assert sorted(a.status_code for a in twice) == [201, 409]
        assert {a.json().get("code") for a in twice if a.status_code == 409} == \
            {"attendance_already_recorded"}

    recorded = await fetch(database, "SELECT worker_id, session_id FROM attendance_sheet "
                                     "WHERE class_id = 'burst'")
    assert sorted((r["worker_id"], r["session_id"]) for r in recorded) == sorted(
        [(w, "s001") for w in trainees] + [("w-000", "s002")])
    streams = await fetch(database, "SELECT stream_id, count(*) AS n FROM events "
                                    "WHERE event_type LIKE '%AttendanceRecorded%' "
                                    "GROUP BY stream_id")
    assert {r["stream_id"]: r["n"] for r in streams} == {
        f"class-burst/trainee-{w}": (2 if w == "w-000" else 1) for w in trainees}


async def test_a_session_register_is_recorded_in_one_request_and_answered_line_by_line(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    trainees = [f"w-{n:03d}" for n in range(40)]
    async with running_service(TRAINING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, training):
        await open_class(training, database, "reg", trainees)
        first = await training.post("/classes/reg/attendance", json=check_in("w-005"),
                                    headers=INSTITUTION)
        assert first.status_code == 201
        lines = [{"worker_id": w, "minutes": 180, "method": "face_check"} for w in trainees]
        lines += [{"worker_id": "stranger", "minutes": 180, "method": "face_check"}]
        lines[7]["minutes"] = 181
        key = {**INSTITUTION, "Idempotency-Key": "register-reg-s001"}
        register = await training.post("/classes/reg/sessions/s001/attendance",
                                       json={"check_ins": lines}, headers=key)
        assert register.status_code == 200, register.text
        by_worker = {line["worker_id"]: line for line in register.json()["lines"]}
        assert by_worker["w-005"] == {"worker_id": "w-005", "outcome": "already_recorded",
                                      "attendance_id": first.json()["attendance_id"],
                                      "code": None, "message": None}
        assert (by_worker["w-007"]["outcome"], by_worker["w-007"]["code"]) == \
            ("refused", "minutes_exceed_session")
        assert (by_worker["stranger"]["outcome"], by_worker["stranger"]["code"]) == \
            ("refused", "worker_not_enrolled")
        recorded = {w for w, line in by_worker.items() if line["outcome"] == "recorded"}
        assert recorded == set(trainees) - {"w-005", "w-007"}
        assert all(by_worker[w]["attendance_id"] for w in recorded)

        stored = len(await fetch(database, "SELECT 1 FROM events"))
        again = await training.post("/classes/reg/sessions/s001/attendance",
                                    json={"check_ins": lines}, headers=key)
        assert (again.status_code, again.json()) == (200, register.json())
        assert again.headers["Idempotent-Replayed"] == "true"
        # Without the key, a second upload records nothing new: every line already is.
        repeat = await training.post("/classes/reg/sessions/s001/attendance",
                                     json={"check_ins": lines}, headers=INSTITUTION)
        assert {line["outcome"] for line in repeat.json()["lines"]
                if line["worker_id"] in recorded} == {"already_recorded"}
        assert len(await fetch(database, "SELECT 1 FROM events")) == stored

        # A refusal about the session refuses the whole register, and stores nothing.
        unknown = await training.post("/classes/reg/sessions/s999/attendance",
                                      json={"check_ins": lines[:3]}, headers=INSTITUTION)
        assert (unknown.status_code, unknown.json()["code"]) == (409, "session_unknown")
        twice = await training.post("/classes/reg/sessions/s002/attendance",
                                    json={"check_ins": [lines[0], lines[0]]},
                                    headers=INSTITUTION)
        assert twice.status_code == 422
        other = await training.post("/classes/reg/sessions/s002/attendance",
                                    json={"check_ins": lines[:3]}, headers=auth("org-inst-2"))
        assert (other.status_code, other.json()["code"]) == (403, "out_of_scope")
        assert len(await fetch(database, "SELECT 1 FROM events")) == stored


async def test_a_completion_racing_check_ins_counts_exactly_what_was_recorded_before_it(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    trainees = [f"w-{n:03d}" for n in range(30)]
    async with running_service(TRAINING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, training):
        await open_class(training, database, "race", trainees)
        racing = [training.post("/classes/race/attendance", json=check_in(w, minutes=150),
                                headers=INSTITUTION) for w in trainees]
        racing.insert(15, training.post("/classes/race/completion", headers=INSTITUTION))
        answers = await asyncio.gather(*racing)
        completion = answers.pop(15)
        assert completion.status_code == 200, completion.text
        outcome = {t["worker_id"]: t["attended_minutes"]
                   for t in completion.json()["trainees"]}
        for worker, answer in zip(trainees, answers, strict=True):
            if answer.status_code == 201:  # recorded before the completion: counted
                assert outcome[worker] == 150
            else:  # after it: refused, and not counted
                assert answer.json()["code"] == "class_already_completed"
                assert outcome[worker] == 0


async def test_check_ins_written_together_are_each_answered_and_recorded_as_their_own(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """Terminals' check-ins arriving together are written in shared transactions
    (shared/runtime/batches.py); each request still gets its own answer, a refusal refuses only
    its own check-in, and each event keeps its own request's correlation id."""
    trainees = [f"w-{n:03d}" for n in range(30)]
    async with running_service(TRAINING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, training):
        await open_class(training, database, "together", trainees)

        def post(class_id: str, body: dict, correlation_id: str):
            return training.post(f"/classes/{class_id}/attendance", json=body,
                                 headers={**INSTITUTION, "X-Correlation-ID": correlation_id})

        sent = [post("together", check_in(w), f"corr-{w}") for w in trainees]
        sent.insert(10, post("together", check_in("stranger"), "corr-stranger"))
        sent.insert(20, post("together", check_in("w-003", "s002", minutes=181), "corr-long"))
        sent.insert(25, post("nowhere", check_in("w-004"), "corr-nowhere"))
        answers = await asyncio.gather(*sent)
        refused = {answers[i].json()["code"]: answers[i].status_code for i in (10, 20, 25)}
        assert refused == {"worker_not_enrolled": 409, "minutes_exceed_session": 409,
                           "class_unknown": 404}, refused
        accepted = [a for i, a in enumerate(answers) if i not in (10, 20, 25)]
        assert [a.status_code for a in accepted] == [201] * 30, [a.text for a in accepted]
        assert len({a.json()["attendance_id"] for a in accepted}) == 30

        scraped = (await training.get("/metrics")).text
        batches, lines = (float(next(line.split()[1] for line in scraped.splitlines()
                                     if line.startswith(f"songji_command_batch_lines_{part} ")))
                          for part in ("count", "sum"))
        assert lines >= 33 and batches < lines, (batches, lines)  # written together

    events = await fetch(database, "SELECT stream_id, metadata->>'correlation_id' AS corr "
                                   "FROM events WHERE event_type LIKE '%AttendanceRecorded%' "
                                   "AND stream_id LIKE 'class-together/%'")
    assert {r["stream_id"]: r["corr"] for r in events} == {
        f"class-together/trainee-{w}": f"corr-{w}" for w in trainees}
    sheet = await fetch(database, "SELECT worker_id, attendance_id FROM attendance_sheet "
                                  "WHERE class_id = 'together'")
    assert {r["worker_id"]: r["attendance_id"] for r in sheet} == {
        w: a.json()["attendance_id"] for w, a in zip(trainees, accepted, strict=True)}
