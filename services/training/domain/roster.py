"""Training's view of who is enrolled in each class, folded from enrolment's events.

Training does not own enrolments; it keeps this projection (through its inbox) so that
attendance and completion can check who belongs to a class without asking enrolment.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from shared.contracts.enrolment import EnrolmentWithdrawn, WorkerEnrolled

RosterEvent = WorkerEnrolled | EnrolmentWithdrawn


@dataclass(frozen=True, slots=True)
class Roster:
    class_id: str
    enrolments: dict[str, str] = field(default_factory=dict)  # enrolment_id -> worker_id

    @property
    def worker_ids(self) -> frozenset[str]:
        return frozenset(self.enrolments.values())


def evolve(state: Roster, event: RosterEvent) -> Roster:
    if event.class_id != state.class_id:
        return state
    enrolments = dict(state.enrolments)
    match event:
        case WorkerEnrolled():
            enrolments[event.enrolment_id] = event.worker_id
        case EnrolmentWithdrawn():
            enrolments.pop(event.enrolment_id, None)
    return replace(state, enrolments=enrolments)
