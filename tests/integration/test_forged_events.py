"""Forged events create no money: attendance and a completion that training never published,
put on a topic by anyone who can write to the broker, are dead-lettered by funding with the
reason and never counted by the auditor's replay, while training's own events still are."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.funding.app import SPEC as FUNDING
from shared.contracts import Envelope, Event
from shared.contracts.training import (
    AttendanceRecorded,
    ClassCompleted,
    ClassScheduled,
    SessionPlan,
    TraineeOutcome,
)
from shared.eventsourcing.authenticity import SIGNATURE_HEADER
from shared.eventsourcing.signing import new_key_pair
from shared.eventsourcing.topics import dead_letter_topic, events_topic
from songji.audit.funding_replay import records_from_topics, replay
from tests.integration.test_funding_service import DAYS, FUKANG, POLICY
from tests.orgs import auth
from tests.support import (
    eventually,
    header,
    produce,
    public_keys_in_tests,
    read_topic,
    running_service,
    signed,
)

pytestmark = pytest.mark.integration

ATTACKER_KEY = new_key_pair()[0]


def a_class(class_id: str, worker: str, attendances: int) -> list[Event]:
    """A class of one trainee who attended every session: schedule, attendance, completion."""
    sessions = [SessionPlan(session_id=f"s{i}", date=d, start_local="19:00", end_local="23:00",
                            kind="practical_on_the_job", minutes=240)
                for i, d in enumerate(DAYS)]
    events: list[Event] = [ClassScheduled(
        class_id=class_id, institution_id="inst-1", occupation_code="electrician",
        target_level=4, site=FUKANG, mode="night", capacity=200, sessions=sessions,
        required_minutes=3600)]
    events += [AttendanceRecorded(
        attendance_id=f"a-{class_id}-{i}", class_id=class_id, session_id=f"s{i % 15}",
        session_date=DAYS[i % 15], worker_id=worker, minutes=240, method="face_check")
        for i in range(attendances)]
    events.append(ClassCompleted(
        class_id=class_id, institution_id="inst-1", occupation_code="electrician",
        target_level=4, site=FUKANG, first_session_date=DAYS[0], completed_on=DAYS[-1],
        threshold_percent=80, trainees=[TraineeOutcome(
            worker_id=worker, attended_minutes=3600, required_minutes=3600,
            attendance_ratio=1, met_threshold=True)]))
    return events


def envelopes(events: list[Event], source: str) -> list[Envelope]:
    start = datetime.now(UTC)
    return [Envelope(id=uuid.uuid4(), source=source, type=e.ce_type(), subject=f"class-{i}",
                     time=start + timedelta(milliseconds=n), data=e.model_dump(mode="json"),
                     schema_version=1, correlation_id="forged", stream_version=n + 1)
            for n, (i, e) in enumerate((getattr(e, "class_id", "x"), e) for e in events)]


async def test_forged_attendance_and_completion_make_no_ledger_line_and_are_not_counted(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    enrolment_topic = events_topic("enrolment", topic_prefix)
    training_topic = events_topic("training", topic_prefix)
    # (topic, value, headers, the reason funding's inbox must give) of every forged message
    forged: list[tuple[str, bytes, list[tuple[str, bytes]], str]] = []
    # 1. As in the report: on enrolment's topic, from an attacker's source, unsigned.
    for env in envelopes(a_class("forged-1", "forged-worker-1", 200),
                         "https://attacker.example"):
        value, headers = signed(env, key=ATTACKER_KEY)
        headers = [(k, v) for k, v in headers if k != SIGNATURE_HEADER]
        forged.append((enrolment_topic, value, headers, "belongs to training, not to the "
                                                        "topic of enrolment"))
    # 2. On training's topic with training's source, but unsigned ...
    for env in envelopes(a_class("forged-2", "forged-worker-2", 15), "/songji/training"):
        value, headers = signed(env, key=ATTACKER_KEY)
        headers = [(k, v) for k, v in headers if k != SIGNATURE_HEADER]
        forged.append((training_topic, value, headers, "unsigned"))
    # 3. ... or signed with a key that is not training's.
    for env in envelopes(a_class("forged-3", "forged-worker-3", 15), "/songji/training"):
        value, headers = signed(env, key=ATTACKER_KEY)
        forged.append((training_topic, value, headers, "does not verify under training's key"))

    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        api.headers.update(auth("hr"))
        assert (await api.post("/policies", json=POLICY)).status_code == 202
        for topic, value, headers, _ in forged:
            await produce(kafka_bootstrap, topic, value, key=b"forged", headers=headers)
        # training's own class, signed by training: it makes its line
        for env in envelopes(a_class("real", "w-real", 15), "/songji/training"):
            value, headers = signed(env)
            await produce(kafka_bootstrap, training_topic, value, key=env.subject.encode(),
                          headers=headers)

        async def real_line() -> list:
            lines = (await api.get("/ledger", params={"worker_id": "w-real"})).json()
            return [x for x in lines if x["rule"] == "living_subsidy"]
        await eventually(real_line)
        # Funding has handled every forged message once all are dead-lettered (or, where they
        # were applied instead, after a while).
        dead = await read_topic(kafka_bootstrap, dead_letter_topic(topic_prefix),
                                at_least=len(forged), seconds=45)
        ledger = (await api.get("/ledger")).json()
        assert {x["worker_id"] for x in ledger} == {"w-real"}, "a forged event made money"
        assert len(dead) == len(forged)

    # Each forged message is on the dead-letter topic, from funding's consumer, with its reason.
    reasons = {header(r, "ce_id"): header(r, "dlq_reason") for r in dead}
    for _, _, headers, reason in forged:
        event_id = dict(headers)["ce_id"].decode()
        assert reason in (reasons.get(event_id) or ""), (event_id, reasons.get(event_id))
    assert {header(r, "dlq_consumer") for r in dead} == {"funding.ledger-inputs"}

    # The auditor's replay from the topics refuses them too, agrees with the ledger, and fails
    # for the forgeries (someone else wrote to the topics).
    history = await records_from_topics(kafka_bootstrap, topic_prefix, idle_ms=1500,
                                        public_keys=public_keys_in_tests())
    report = await replay(database, history)
    assert report.refused == len(forged)
    assert report.matches, report.differences  # the real ledger is right...
    assert not report.ok  # ...and the forgeries fail the audit all the same
    assert report.derived_lines == report.recorded_lines > 0
    assert "REFUSED" in report.summary()
