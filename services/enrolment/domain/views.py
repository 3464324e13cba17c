"""Enrolment's own views of training's and assessment's events, folded purely.

Enrolment decides alone (no call to another service), so it keeps what it needs from their
topics: each class's state, and each worker's live certificates. They are kept in its database
through the inbox, and read for ``decide`` by the command's look-up step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from shared.contracts.assessment import CertificationRevoked, SkillLevelCertified
from shared.contracts.training import ClassApproved, ClassCompleted, ClassScheduled

ClassViewEvent = ClassScheduled | ClassApproved | ClassCompleted
CertificateEvent = SkillLevelCertified | CertificationRevoked


@dataclass(frozen=True, slots=True)
class ClassView:
    class_id: str
    institution_id: str
    occupation_code: str
    target_level: int
    capacity: int
    first_session_date: date
    approved: bool = False
    completed: bool = False
    enrolled_count: int = 0  # live enrolments, from enrolment's own records

    @property
    def open(self) -> bool:
        """Enrolment is open from approval until the class is completed."""
        return self.approved and not self.completed

    @property
    def places_left(self) -> int:
        return max(self.capacity - self.enrolled_count, 0)


def evolve_class_view(view: ClassView | None, event: ClassViewEvent) -> ClassView | None:
    match event:
        case ClassScheduled():
            return ClassView(
                class_id=event.class_id, institution_id=event.institution_id,
                occupation_code=event.occupation_code, target_level=event.target_level,
                capacity=event.capacity,
                first_session_date=min(s.date for s in event.sessions),
            )
        case ClassApproved() if view is not None:
            return replace(view, approved=True)
        case ClassCompleted() if view is not None:
            return replace(view, completed=True)
    return view


@dataclass(frozen=True, slots=True)
class Certificate:
    occupation_code: str
    level: int


# A worker's live certificates by certificate id.
Certificates = dict[str, Certificate]


def evolve_certificates(certificates: Certificates, event: CertificateEvent) -> Certificates:
    match event:
        case SkillLevelCertified():
            return {**certificates,
                    event.certificate_id: Certificate(event.occupation_code, event.level)}
        case CertificationRevoked():
            return {k: v for k, v in certificates.items() if k != event.certificate_id}
    return certificates
