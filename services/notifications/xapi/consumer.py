"""The xapi consumer: its own consumer group and inbox, so it can be added, replayed or held
up without touching the notices and webhooks. Each learning event becomes its statements in
``xapi_statements``, in the inbox transaction; redelivery adds nothing (the statement id is
derived from the event id).

A statement's context comes from the events before it that this consumer saw: the class's
occupation and level (ClassScheduled) for an attendance, the assessment's class (Assessment
Scheduled) for a result. Training publishes a class's schedule before any of its attendance,
and assessment an assessment before its results, each on its own topic in order per class or
assessment; should one still arrive first, the statement says only what its event carries.

Handlers get no settings, so statements are stored under ``PROGRAMME`` (a placeholder for the
programme's home page), which the sender replaces with ``SONGJI_XAPI_HOME_PAGE``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

import asyncpg

from services.notifications.xapi import statements as xs
from shared.contracts import Envelope, Event
from shared.contracts.assessment import (
    AssessmentResultRecorded,
    AssessmentResultVoided,
    AssessmentScheduled,
    CertificationRevoked,
    SkillLevelCertified,
)
from shared.contracts.enrolment import WorkerEnrolled
from shared.contracts.training import (
    AttendanceRecorded,
    AttendanceVoided,
    ClassCompleted,
    ClassScheduled,
)
from shared.eventsourcing.inbox import Apply
from shared.runtime.service import Subscription


def _programme() -> xs.Programme:
    return xs.Programme(xs.PROGRAMME)


async def queue(conn: asyncpg.Connection, event_id: UUID, planned: list[xs.Planned]) -> None:
    await conn.executemany(
        "INSERT INTO xapi_statements (statement_id, event_id, ref, statement) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (statement_id) DO NOTHING",
        [(p.statement_id, event_id, p.ref, p.statement) for p in planned])


async def class_scheduled(conn: asyncpg.Connection, envelope: Envelope,
                          event: ClassScheduled) -> None:
    await conn.execute(
        "INSERT INTO xapi_classes (class_id, occupation_code, target_level) VALUES ($1, $2, $3) "
        "ON CONFLICT (class_id) DO NOTHING",
        event.class_id, event.occupation_code, event.target_level)


async def assessment_scheduled(conn: asyncpg.Connection, envelope: Envelope,
                               event: AssessmentScheduled) -> None:
    await conn.execute(
        "INSERT INTO xapi_assessments (assessment_id, class_id, occupation_code, level) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (assessment_id) DO NOTHING",
        event.assessment_id, event.class_id, event.occupation_code, event.level)


async def worker_enrolled(conn: asyncpg.Connection, envelope: Envelope,
                          event: WorkerEnrolled) -> None:
    await queue(conn, envelope.id, [xs.enrolled(_programme(), envelope.id, envelope.time,
                                                event)])


async def attendance_recorded(conn: asyncpg.Connection, envelope: Envelope,
                              event: AttendanceRecorded) -> None:
    row = await conn.fetchrow("SELECT occupation_code, target_level FROM xapi_classes "
                              "WHERE class_id = $1", event.class_id)
    facts = xs.Facts(event.class_id, row["occupation_code"] if row else None,
                     row["target_level"] if row else None)
    await queue(conn, envelope.id, [xs.attended(_programme(), envelope.id, envelope.time,
                                                event, facts)])


async def class_completed(conn: asyncpg.Connection, envelope: Envelope,
                          event: ClassCompleted) -> None:
    await queue(conn, envelope.id, xs.completed(_programme(), envelope.id, envelope.time,
                                                event))


async def result_recorded(conn: asyncpg.Connection, envelope: Envelope,
                          event: AssessmentResultRecorded) -> None:
    row = await conn.fetchrow("SELECT class_id, occupation_code, level FROM xapi_assessments "
                              "WHERE assessment_id = $1", event.assessment_id)
    facts = xs.Facts(row["class_id"], row["occupation_code"], row["level"]) if row else None
    await queue(conn, envelope.id, [xs.assessed(_programme(), envelope.id, envelope.time,
                                                event, facts)])


async def skill_level_certified(conn: asyncpg.Connection, envelope: Envelope,
                                event: SkillLevelCertified) -> None:
    await queue(conn, envelope.id, [xs.certified(_programme(), envelope.id, envelope.time,
                                                 event)])


def _voids(ref_of: Callable[[Any], str]) -> Apply:
    """A handler that voids the statement made for what ``ref_of(event)`` names."""
    async def apply(conn: asyncpg.Connection, envelope: Envelope, event: Any) -> None:
        voided = await conn.fetchval("SELECT statement_id FROM xapi_statements WHERE ref = $1 "
                                     "ORDER BY created_at LIMIT 1", ref_of(event))
        if voided is not None:
            await queue(conn, envelope.id, [xs.voiding(_programme(), envelope.id,
                                                       envelope.time, voided)])
    return apply


HANDLERS: Mapping[type[Event], Apply] = {
    ClassScheduled: class_scheduled,
    AssessmentScheduled: assessment_scheduled,
    WorkerEnrolled: worker_enrolled,
    AttendanceRecorded: attendance_recorded,
    ClassCompleted: class_completed,
    AssessmentResultRecorded: result_recorded,
    SkillLevelCertified: skill_level_certified,
    AttendanceVoided: _voids(lambda e: f"attendance:{e.attendance_id}"),
    AssessmentResultVoided: _voids(lambda e: f"result:{e.result_id}"),
    CertificationRevoked: _voids(lambda e: f"certificate:{e.certificate_id}"),
}

XAPI = Subscription(
    name="xapi",
    services=["enrolment", "training", "assessment"],
    handlers=HANDLERS,
    description="Learning events (enrolled, attended, completed, passed or failed, certified, "
                "and their voiding) as xAPI statements for the Learning Record Store; sent "
                "by the LRS sender when SONGJI_XAPI_LRS_URL is set, kept until then.",
)
