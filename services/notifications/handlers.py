"""What notifications does with each consumed event, inside the inbox transaction.

Each handler updates the read models, asks the pure rules what to tell whom, and writes the
notices to the outbox in the same transaction; sending happens later, outside it.
"""

from __future__ import annotations

import asyncpg

from services.notifications import outbox, projections
from services.notifications.domain import rules
from services.notifications.domain.model import Planned
from shared.contracts import Envelope
from shared.contracts.assessment import SkillLevelCertified
from shared.contracts.employment import (
    BusinessGuidanceRequested,
    FollowUpRecorded,
    ReferralDeclined,
    WorkerPlaced,
    WorkerReferred,
)
from shared.contracts.enrolment import EnrolmentWithdrawn, WorkerEnrolled, WorkerRegistered
from shared.contracts.funding import ObjectionRaised, PaymentConfirmed, PaymentInstructionIssued
from shared.contracts.training import ClassCompleted, ClassScheduled


async def _enqueue(conn: asyncpg.Connection, envelope: Envelope, planned: list[Planned]) -> None:
    conditional = sorted({p.only_if_female for p in planned if p.only_if_female})
    genders = await projections.genders(conn, conditional) if conditional else {}
    await outbox.enqueue(conn, envelope, planned, genders)


async def worker_registered(conn: asyncpg.Connection, envelope: Envelope,
                            event: WorkerRegistered) -> None:
    await projections.lock(conn, f"worker:{event.worker_id}")
    await projections.record_worker(conn, envelope, event)
    await outbox.release_awaiting(conn, event.worker_id, event.gender)


async def worker_enrolled(conn: asyncpg.Connection, envelope: Envelope,
                          event: WorkerEnrolled) -> None:
    await projections.lock(conn, f"class:{event.class_id}")
    await projections.lock(conn, f"worker:{event.worker_id}")
    await projections.record_enrolment(conn, envelope, event.enrolment_id, event.worker_id,
                                       event.class_id)
    known = await projections.scheduled_class(conn, event.class_id)
    scheduled, about = known if known is not None else (None, None)
    await _enqueue(conn, envelope, rules.on_worker_enrolled(event, envelope.time, scheduled,
                                                            about))


async def enrolment_withdrawn(conn: asyncpg.Connection, envelope: Envelope,
                              event: EnrolmentWithdrawn) -> None:
    await projections.lock(conn, f"class:{event.class_id}")
    await projections.withdraw_enrolment(conn, event.enrolment_id)
    await outbox.cancel_for_withdrawal(conn, event.worker_id, event.class_id)


async def class_scheduled(conn: asyncpg.Connection, envelope: Envelope,
                          event: ClassScheduled) -> None:
    await projections.lock(conn, f"class:{event.class_id}")
    await projections.record_class(conn, envelope, event)
    enrolled = await projections.enrolled_workers(conn, event.class_id)
    await _enqueue(conn, envelope, rules.on_class_scheduled(event, envelope.time, enrolled))


async def class_completed(conn: asyncpg.Connection, envelope: Envelope,
                          event: ClassCompleted) -> None:
    await _enqueue(conn, envelope, rules.on_class_completed(event, envelope.time))


async def skill_level_certified(conn: asyncpg.Connection, envelope: Envelope,
                                event: SkillLevelCertified) -> None:
    await projections.lock(conn, f"worker:{event.worker_id}")
    await _enqueue(conn, envelope, rules.on_skill_level_certified(event, envelope.time))


async def payment_instruction_issued(conn: asyncpg.Connection, envelope: Envelope,
                                     event: PaymentInstructionIssued) -> None:
    await projections.lock(conn, f"instruction:{event.instruction_id}")
    await projections.record_instruction(conn, event.instruction_id, list(event.items))
    seen = await projections.confirmation(conn, event.instruction_id)
    if seen is not None:  # the confirmation overtook its instruction
        cause, confirmed = seen
        await _enqueue(conn, cause,
                       rules.on_payment_confirmed(confirmed, list(event.items), cause.time))


async def payment_confirmed(conn: asyncpg.Connection, envelope: Envelope,
                            event: PaymentConfirmed) -> None:
    await projections.lock(conn, f"instruction:{event.instruction_id}")
    await projections.record_confirmation(conn, envelope, event)
    items = await projections.instruction_items(conn, event.instruction_id)
    if items is not None:
        await _enqueue(conn, envelope, rules.on_payment_confirmed(event, items, envelope.time))


async def objection_raised(conn: asyncpg.Connection, envelope: Envelope,
                           event: ObjectionRaised) -> None:
    await _enqueue(conn, envelope, rules.on_objection_raised(event, envelope.time))


async def worker_referred(conn: asyncpg.Connection, envelope: Envelope,
                          event: WorkerReferred) -> None:
    await _enqueue(conn, envelope, rules.on_worker_referred(event, envelope.time))


async def worker_placed(conn: asyncpg.Connection, envelope: Envelope,
                        event: WorkerPlaced) -> None:
    await projections.lock(conn, f"worker:{event.worker_id}")
    await _enqueue(conn, envelope, rules.on_worker_placed(event, envelope.time))


async def referral_declined(conn: asyncpg.Connection, envelope: Envelope,
                            event: ReferralDeclined) -> None:
    await projections.lock(conn, f"worker:{event.worker_id}")
    await _enqueue(conn, envelope, rules.on_referral_declined(event, envelope.time))


async def follow_up_recorded(conn: asyncpg.Connection, envelope: Envelope,
                             event: FollowUpRecorded) -> None:
    """A recorded follow-up needs no reminder or task any more, and once the worker left none
    of the placement's later ones does. (The placement and its follow-ups are one stream, on
    one partition: its notices were enqueued before.)"""
    await outbox.cancel_follow_ups(conn, event.worker_id, event.referral_id,
                                   event.month if event.still_employed else None)


async def business_guidance_requested(conn: asyncpg.Connection, envelope: Envelope,
                                      event: BusinessGuidanceRequested) -> None:
    await _enqueue(conn, envelope, rules.on_business_guidance_requested(event, envelope.time))
