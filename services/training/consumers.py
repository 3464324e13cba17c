"""What training consumes: who is enrolled in its classes."""

from __future__ import annotations

from services.training import projections
from shared.contracts.enrolment import EnrolmentWithdrawn, WorkerEnrolled
from shared.runtime.service import Subscription

ROSTER = Subscription(
    name="roster",
    services=["enrolment"],
    handlers={WorkerEnrolled: projections.worker_enrolled,
              EnrolmentWithdrawn: projections.enrolment_withdrawn},
    description="Keeps each class's roster (pseudonymous worker ids) so attendance and "
                "completion check who belongs to a class without calling enrolment.",
)
