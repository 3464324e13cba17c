"""What assessment consumes: the classes it may assess and who taught and ran them."""

from __future__ import annotations

from services.assessment import projections
from shared.contracts.training import ClassCompleted, ClassScheduled, InstitutionAccredited
from shared.runtime.service import Subscription

CLASSES = Subscription(
    name="classes",
    services=["training"],
    handlers={ClassScheduled: projections.class_scheduled,
              ClassCompleted: projections.class_completed,
              InstitutionAccredited: projections.institution_accredited},
    description="Keeps each class's institution, trainers and eligible trainees, and each "
                "institution's partners, for the independence rules (考培分离).",
)
