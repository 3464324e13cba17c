"""What funding consumes: every event of enrolment, training and assessment that can bear on
money goes into the input log, and the lines of the workers it touches are re-derived, in
the inbox's transaction (so a redelivered event has no effect)."""

from __future__ import annotations

import asyncpg

from services.funding.domain.facts import Consumed
from services.funding.records import affected_workers, log_input, recompute
from shared.contracts import Actor, Envelope, Event, Metadata
from shared.contracts.assessment import (
    AssessmentBodyRegistered,
    AssessmentScheduled,
    CertificationRevoked,
    SkillLevelCertified,
)
from shared.contracts.enrolment import EnrolmentWithdrawn, WorkerEnrolled
from shared.contracts.training import (
    AttendanceRecorded,
    AttendanceVoided,
    ClassCompleted,
    ClassScheduled,
)
from shared.eventsourcing.store import EventStore
from shared.runtime.service import Subscription

CONSUMED: tuple[type[Event], ...] = (
    WorkerEnrolled, EnrolmentWithdrawn,
    ClassScheduled, AttendanceRecorded, AttendanceVoided, ClassCompleted,
    AssessmentBodyRegistered, AssessmentScheduled, SkillLevelCertified, CertificationRevoked,
)

# The inbox calls handlers with (conn, envelope, event). Lines are appended through that same
# connection (``append(..., conn=conn)`` never touches the pool), so they commit atomically
# with the inbox row and the input log.
_STORE = EventStore(None)  # type: ignore[arg-type]


async def consume(conn: asyncpg.Connection, envelope: Envelope, event: Event) -> None:
    record = Consumed(event_id=str(envelope.id), stream_id=envelope.subject,
                      stream_version=envelope.stream_version or 0, recorded_at=envelope.time,
                      event=event)
    if not await log_input(conn, envelope, record):
        return
    workers = await affected_workers(conn, record)
    if workers == []:
        return
    metadata = Metadata(correlation_id=envelope.correlation_id, causation_id=str(envelope.id),
                        actor=Actor(org="funding"))
    await recompute(conn, _STORE, workers, metadata)


INPUTS = Subscription(
    name="ledger-inputs",
    services=["enrolment", "training", "assessment"],
    handlers=dict.fromkeys(CONSUMED, consume),
    description="Keeps every event that bears on money (classes, attendance and its voids, "
                "completions, assessment bodies, certificates and revocations) in the input "
                "log and re-derives the ledger lines of the workers it touches.",
)
