"""Learning events reach a real Learning Record Store as xAPI 1.0.3 statements.

The learning events of `make run`'s journey (the demo's scenario with its 149 workers and
seed: its classes, sessions, attendance, completions, results and certificates), signed as each
service's relay signs them, are read by notifications' xapi consumer. The LRS is the Ralph
LRS (tests/ralph_lrs.py), started by the test on a loopback port, but only after the first
attempts failed: the statements wait and are retried with backoff. Then the statements are
read back with the LRS's own API and checked: one per learning fact, none twice (a
redelivered event adds nothing), pseudonymous actors, ADL verbs, scores and context as the
events said.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.notifications.app import SPEC as NOTIFICATIONS
from services.notifications.xapi.statements import STATEMENT_NAMESPACE
from shared.contracts import Envelope, Event
from shared.contracts.assessment import (
    AssessmentResultRecorded,
    AssessmentScheduled,
    SkillLevelCertified,
)
from shared.contracts.enrolment import WorkerEnrolled
from shared.contracts.training import (
    AttendanceRecorded,
    AttendanceVoided,
    ClassCompleted,
    ClassScheduled,
    SessionPlan,
    TraineeOutcome,
)
from shared.eventsourcing.topics import events_topic
from shared.infra.ports import free_port
from songji.demo import scenario as sc
from tests.ralph_lrs import Lrs, running_ralph
from tests.support import eventually, running_service, signed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

WORKERS, SEED = 149, 2025  # `make run`'s journey
HOME = "https://fukang.songji.example.org"
ADL = "http://adlnet.gov/expapi/verbs/"
THRESHOLD = 80
LAST_DAY = sc.LAST_DAY


def worker_id(worker: sc.Worker) -> str:
    return f"w-{worker.index:04d}"


def journey(scenario: sc.Scenario) -> tuple[list[tuple[Event, str]], Counter[str]]:
    """The learning events of the scenario, each with its stream (the Kafka key), and the
    statements this test expects, by verb, worked out from the scenario's inputs."""
    events: list[tuple[Event, str]] = []
    expected: Counter[str] = Counter()
    for plan in scenario.classes.values():
        trainees = scenario.in_class(plan.class_id)
        stream = f"class-{plan.class_id}"
        sessions = [SessionPlan(session_id=f"s{i}", date=s.day, start_local=s.start,
                                end_local=s.end, kind=s.kind, minutes=s.minutes)  # type: ignore[arg-type]
                    for i, s in enumerate(plan.sessions)]
        events.append((ClassScheduled(
            class_id=plan.class_id, institution_id="inst-1",
            occupation_code=plan.occupation_code, target_level=plan.level, site=plan.site,
            mode=plan.mode, capacity=60, sessions=sessions,
            required_minutes=plan.required_minutes, trainer_ids=list(plan.trainer_ids)),
            stream))
        for w in trainees:
            events.append((WorkerEnrolled(
                enrolment_id=f"e-{w.index}", worker_id=worker_id(w), class_id=plan.class_id,
                occupation_code=plan.occupation_code, target_level=plan.level,
                enrolled_on=plan.sessions[0].day - timedelta(days=3)), f"worker-{w.index}"))
            expected["registered"] += 1
        for i, session in enumerate(plan.sessions):
            for w in trainees:
                if w.minutes[i]:
                    events.append((AttendanceRecorded(
                        attendance_id=f"a-{w.index}-{i}", class_id=plan.class_id,
                        session_id=f"s{i}", session_date=session.day, worker_id=worker_id(w),
                        minutes=w.minutes[i], method=session.check_in), stream))  # type: ignore[arg-type]
                    expected["attended"] += 1
        met = [w for w in trainees if sum(w.minutes) * 100 >= THRESHOLD * plan.required_minutes]
        events.append((ClassCompleted(
            class_id=plan.class_id, institution_id="inst-1",
            occupation_code=plan.occupation_code, target_level=plan.level, site=plan.site,
            first_session_date=plan.sessions[0].day, completed_on=plan.sessions[-1].day,
            threshold_percent=THRESHOLD, trainees=[TraineeOutcome(
                worker_id=worker_id(w), attended_minutes=sum(w.minutes),
                required_minutes=plan.required_minutes,
                attendance_ratio=round(sum(w.minutes) / plan.required_minutes, 4),
                met_threshold=w in met) for w in trainees]), stream))
        expected["completed"] += len(met)
        assessment = f"as-{plan.class_id}"
        events.append((AssessmentScheduled(
            assessment_id=assessment, body_id="org-body-1", class_id=plan.class_id,
            occupation_code=plan.occupation_code, level=plan.level, assessor_ids=["exam-1"],
            candidate_ids=[worker_id(w) for w in met], scheduled_on=LAST_DAY), assessment))
        for w in met:
            passed = w.theory_score >= 60 and w.practical_score >= 60
            events.append((AssessmentResultRecorded(
                result_id=f"r-{w.index}", assessment_id=assessment, worker_id=worker_id(w),
                theory_score=w.theory_score, practical_score=w.practical_score,
                passed=passed), assessment))
            expected["passed" if passed else "failed"] += 1
            if passed:
                events.append((SkillLevelCertified(
                    certificate_id=f"cert-{w.index}", certificate_number=f"N-{w.index}",
                    worker_id=worker_id(w), occupation_code=plan.occupation_code,
                    level=plan.level, body_id="org-body-1", assessment_id=assessment,
                    class_id=plan.class_id, certified_on=LAST_DAY), assessment))
                expected["mastered"] += 1
    return events, expected


def envelope(event: Event, stream: str, at: datetime) -> Envelope:
    return Envelope(id=uuid.uuid4(), source=f"/songji/{event.service}", type=event.ce_type(),
                    subject=stream, time=at, data=event.model_dump(mode="json"),
                    schema_version=event.schema_version, correlation_id=f"corr-{stream}")


async def publish_all(bootstrap: str, prefix: str, envelopes: list[Envelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for env in envelopes:
            value, headers = signed(env)
            await producer.send(events_topic(env.source.removeprefix("/songji/"), prefix),
                                value, key=env.subject.encode(), headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


async def read_back(lrs: Lrs) -> list[dict[str, Any]]:
    """Every statement the LRS holds, page by page, through its xAPI API."""
    found: list[dict[str, Any]] = []
    base = lrs.url.removesuffix("/xAPI")
    async with httpx.AsyncClient(auth=(lrs.username, lrs.password), timeout=30,
                                 headers={"X-Experience-API-Version": "1.0.3"}) as client:
        url: str | None = f"{lrs.url}/statements?limit=100"
        while url:
            response = await client.get(url)
            assert response.status_code == 200, response.text
            body = response.json()
            found.extend(body["statements"])
            url = f"{base}{body['more']}" if body.get("more") else None
    return found


async def states(dsn: str) -> Counter[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT state, count(*) AS n FROM xapi_statements "
                                "GROUP BY state")
    except asyncpg.UndefinedTableError:  # the service has not migrated yet
        return Counter()
    finally:
        await conn.close()
    return Counter({r["state"]: r["n"] for r in rows})


async def test_the_lrs_holds_the_statements_of_the_journey(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    scenario = sc.build(WORKERS, SEED)
    events, expected = journey(scenario)
    start = datetime(2025, 10, 1, 8, tzinfo=UTC)
    envelopes = [envelope(e, stream, start + timedelta(seconds=n))
                 for n, (e, stream) in enumerate(events)]
    # one attendance is voided afterwards: its statement is voided too
    voided = next(env for env in envelopes if ".AttendanceRecorded." in env.type)
    attendance = AttendanceRecorded.model_validate(voided.data)
    envelopes.append(envelope(AttendanceVoided(
        attendance_id=attendance.attendance_id, class_id=attendance.class_id,
        session_id=attendance.session_id, session_date=attendance.session_date,
        worker_id=attendance.worker_id, reason="signed in for a colleague"),
        voided.subject, start + timedelta(days=1)))
    expected["voided"] += 1
    by_id = {env.id: env for env in envelopes}

    port = free_port()  # the LRS comes up here only later
    lrs_settings = {"xapi_lrs_url": f"http://127.0.0.1:{port}/xAPI",
                    "xapi_lrs_username": "songji", "xapi_lrs_password": "lrs-test-password",
                    "xapi_home_page": HOME, "xapi_backoff_seconds": 0.2,
                    "xapi_backoff_max_seconds": 1.0, "xapi_poll_seconds": 0.2,
                    "xapi_attempts": 1000, "xapi_batch": 100, "xapi_timeout_seconds": 60,
                    "local_channel_path": tmp_path / "messages.jsonl",
                    "enrolment_url": "http://127.0.0.1:9", "dependency_retry_seconds": 60}
    async with running_service(NOTIFICATIONS, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix, **lrs_settings):
        await publish_all(kafka_bootstrap, topic_prefix, envelopes)
        # an enrolment and a completion again, as a broker redelivers: nothing new
        again = [next(e for e in envelopes if f".{kind}." in e.type)
                 for kind in ("WorkerEnrolled", "ClassCompleted")]
        await publish_all(kafka_bootstrap, topic_prefix, again)
        total = sum(expected.values())

        async def all_queued_and_waiting() -> Counter[str] | None:
            counted = await states(database)
            return counted if counted["pending"] == total else None
        await eventually(all_queued_and_waiting, seconds=240, interval=0.5)
        conn = await asyncpg.connect(database)
        try:
            retried = await conn.fetchval("SELECT count(*) FROM xapi_statements "
                                          "WHERE attempts > 0 AND last_error LIKE 'unreachable%'")
        finally:
            await conn.close()
        assert retried > 0  # tried while the LRS was down, and kept

        with running_ralph(tmp_path / "lrs", port=port) as lrs:
            async def all_sent() -> bool:
                counted = await states(database)
                return counted == Counter({"sent": total})
            await eventually(all_sent, seconds=240, interval=0.5)
            stored = await read_back(lrs)

    assert len(stored) == total == len({s["id"] for s in stored})
    assert Counter(s["verb"]["id"].removeprefix(ADL) for s in stored) == expected
    workers = {worker_id(w) for w in scenario.workers}
    for statement in stored:
        verb = statement["verb"]["id"].removeprefix(ADL)
        if verb == "voided":
            continue
        assert statement["actor"] == {"objectType": "Agent", "account": {
            "homePage": HOME, "name": statement["actor"]["account"]["name"]}}
        assert statement["actor"]["account"]["name"] in workers
        assert statement["object"]["id"].startswith(HOME + "/")
        extensions = statement["context"]["extensions"]
        assert extensions[f"{HOME}/xapi/extensions/class"] in scenario.classes
        # every statement's context knew the class's occupation and level
        plan = scenario.classes[extensions[f"{HOME}/xapi/extensions/class"]]
        assert extensions[f"{HOME}/xapi/extensions/occupation"] == plan.occupation_code
        assert extensions[f"{HOME}/xapi/extensions/level"] == plan.level

    # the statement ids are derived from the event ids
    derived = {str(uuid.uuid5(STATEMENT_NAMESPACE, str(i))): env for i, env in by_id.items()}
    by_verb: dict[str, list[dict[str, Any]]] = {}
    for statement in stored:
        by_verb.setdefault(statement["verb"]["id"].removeprefix(ADL), []).append(statement)
    for verb in ("registered", "attended", "passed", "mastered", "voided"):
        for statement in by_verb.get(verb, []):
            assert statement["id"] in derived, (verb, statement["id"])

    # scores as the events said them
    for statement in by_verb["passed"] + by_verb.get("failed", []):
        result_event = AssessmentResultRecorded.model_validate(derived[statement["id"]].data)
        result = statement["result"]
        assert result["success"] is result_event.passed
        mean = (result_event.theory_score + result_event.practical_score) / 2
        assert result["score"] == {"raw": mean, "min": 0, "max": 100, "scaled": mean / 100}
        assert result["extensions"][f"{HOME}/xapi/extensions/theory-score"] == (
            result_event.theory_score)
    for statement in by_verb["completed"]:
        assert statement["result"]["completion"] is True
        assert statement["result"]["duration"].startswith("PT")

    # the voided attendance
    [voiding] = by_verb["voided"]
    assert voiding["object"] == {"objectType": "StatementRef",
                                 "id": str(uuid.uuid5(STATEMENT_NAMESPACE, str(voided.id)))}

