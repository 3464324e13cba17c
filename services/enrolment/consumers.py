"""What enrolment consumes: the classes it enrols into and the certificates workers hold, and
what moves its workers' journeys on (attendance, and funding's payments)."""

from __future__ import annotations

from services.enrolment import journeys, projections
from shared.contracts.assessment import CertificationRevoked, SkillLevelCertified
from shared.contracts.funding import PaymentConfirmed, PaymentInstructionIssued, PayoutDue
from shared.contracts.training import (
    AttendanceRecorded,
    AttendanceVoided,
    ClassApproved,
    ClassCompleted,
    ClassScheduled,
)
from shared.runtime.service import Subscription

CLASSES_AND_CERTIFICATES = Subscription(
    name="classes-and-certificates",
    services=["training", "assessment"],
    handlers={
        ClassScheduled: projections.class_scheduled,
        ClassApproved: projections.class_approved,
        ClassCompleted: projections.class_completed,
        AttendanceRecorded: journeys.attendance_recorded,
        AttendanceVoided: journeys.attendance_voided,
        SkillLevelCertified: projections.skill_certified,
        CertificationRevoked: projections.certification_revoked,
    },
    description="Keeps enrolment's view of each class (capacity, approved, completed) and of "
                "each worker's live certificates, so enrolment decides without calling out; "
                "and each worker's journey (attendance, completion, certificate).",
)

PAYMENTS = Subscription(
    name="payments",
    services=["funding"],
    handlers={
        PayoutDue: journeys.payout_due,
        PaymentInstructionIssued: journeys.payment_instruction_issued,
        PaymentConfirmed: journeys.payment_confirmed,
    },
    description="Marks a worker's journey paid once the bank confirmed an instruction that "
                "paid a ledger line for the worker's class.",
)
