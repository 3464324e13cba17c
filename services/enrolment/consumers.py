"""What enrolment consumes: the classes it enrols into and the certificates workers hold."""

from __future__ import annotations

from services.enrolment import projections
from shared.contracts.assessment import CertificationRevoked, SkillLevelCertified
from shared.contracts.training import ClassApproved, ClassCompleted, ClassScheduled
from shared.runtime.service import Subscription

CLASSES_AND_CERTIFICATES = Subscription(
    name="classes-and-certificates",
    services=["training", "assessment"],
    handlers={
        ClassScheduled: projections.class_scheduled,
        ClassApproved: projections.class_approved,
        ClassCompleted: projections.class_completed,
        SkillLevelCertified: projections.skill_certified,
        CertificationRevoked: projections.certification_revoked,
    },
    description="Keeps enrolment's view of each class (capacity, approved, completed) and of "
                "each worker's live certificates, so enrolment decides without calling out.",
)
