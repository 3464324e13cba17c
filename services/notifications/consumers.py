"""What notifications consumes from the bus.

One consumer reads every service's topic, so the events that meet on one class or one worker
(an enrolment and its class's schedule, a certificate and the worker's registration) are
handled one at a time. It keeps the name ``workers`` it had when it read only registrations:
the name is its consumer group and its inbox key, and renaming it would replay everything.

For every event it (1) applies the notification rules, if any concern that type, and (2) fans
the event out to the integrators' webhooks that chose its type; both in the inbox transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from services.notifications import handlers, webhooks
from shared.contracts import Envelope, Event, registered_events
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
from shared.eventsourcing.inbox import Apply
from shared.runtime.service import Subscription

SERVICES = ("enrolment", "training", "assessment", "funding", "notifications", "employment")

RULES: Mapping[type[Event], Apply] = {
    WorkerRegistered: handlers.worker_registered,
    WorkerEnrolled: handlers.worker_enrolled,
    EnrolmentWithdrawn: handlers.enrolment_withdrawn,
    ClassScheduled: handlers.class_scheduled,
    ClassCompleted: handlers.class_completed,
    SkillLevelCertified: handlers.skill_level_certified,
    PaymentInstructionIssued: handlers.payment_instruction_issued,
    PaymentConfirmed: handlers.payment_confirmed,
    ObjectionRaised: handlers.objection_raised,
    WorkerReferred: handlers.worker_referred,
    WorkerPlaced: handlers.worker_placed,
    ReferralDeclined: handlers.referral_declined,
    FollowUpRecorded: handlers.follow_up_recorded,
    BusinessGuidanceRequested: handlers.business_guidance_requested,
}


def _then_fan_out(rule: Apply | None) -> Apply:
    async def apply(conn: asyncpg.Connection, envelope: Envelope, event: Any) -> None:
        if rule is not None:
            await rule(conn, envelope, event)
        await webhooks.fan_out(conn, envelope, event)

    apply.__name__ = getattr(rule, "__name__", "fan_out")
    return apply


def all_handlers() -> dict[type[Event], Apply]:
    return {model: _then_fan_out(RULES.get(model))
            for model in registered_events().values() if model.service in SERVICES}


WORKERS = Subscription(
    name="workers",
    services=list(SERVICES),
    handlers=all_handlers(),
    description="Every public event: turns those that concern workers and departments into "
                "notices (addressed by pseudonymous ids, contacts fetched at send time) and "
                "fans each out to the integrators' webhooks that chose its type.",
)
