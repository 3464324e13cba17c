"""What notifications consumes from the bus."""

from __future__ import annotations

from services.notifications.projections import record_worker
from shared.contracts.enrolment import WorkerRegistered
from shared.runtime.service import Subscription

WORKERS = Subscription(
    name="workers",
    services=["enrolment"],
    handlers={WorkerRegistered: record_worker},
    description="Learns of newly registered workers (by pseudonymous worker_id) so it can "
                "address them later through enrolment's API.",
)
