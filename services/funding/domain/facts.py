"""The canonical fact set: what funding knows, keyed by ids, independent of arrival order.

The ledger reads events as *records*: event id, stream id, version in that stream, the time
the source store recorded it, and the event. Duplicates (same event id) collapse to one.
Records are then folded in one canonical order -- the source store's ``recorded_at``, then
stream id, stream version and event id -- so the same set of records always produces the same
facts, however Kafka interleaved or redelivered them. Corrections (voids, revocations) are
facts of their own, never deletions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from services.funding.domain.policy import PolicyRef
from shared.contracts import Envelope, Event
from shared.contracts.assessment import (
    AssessmentBodyRegistered,
    AssessmentScheduled,
    CertificationRevoked,
    SkillLevelCertified,
)
from shared.contracts.funding import (
    BudgetAllocated,
    DisbursementApproved,
    FundingPolicyPublished,
    ObjectionRaised,
    ObjectionResolved,
    PaymentConfirmed,
    PaymentInstructionIssued,
    PublicNoticeStarted,
    RecoveryReceived,
)
from shared.contracts.training import (
    AttendanceRecorded,
    AttendanceVoided,
    ClassCompleted,
    ClassScheduled,
)


class ConflictingDuplicate(ValueError):
    """Two records share an event id but not their content: the input is corrupt."""


@dataclass(frozen=True, slots=True)
class Consumed:
    event_id: str
    stream_id: str
    stream_version: int
    recorded_at: datetime
    event: Event

    def __post_init__(self) -> None:
        if self.recorded_at.tzinfo is None:
            raise ValueError("recorded_at must be timezone-aware")

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> Consumed:
        return cls(
            event_id=str(envelope.id),
            stream_id=envelope.subject,
            stream_version=envelope.stream_version or 0,
            recorded_at=envelope.time,
            event=envelope.event(),
        )

    @property
    def order_key(self) -> tuple[datetime, str, int, str]:
        return (self.recorded_at, self.stream_id, self.stream_version, self.event_id)


def canonical(records: Iterable[Consumed | Envelope]) -> list[Consumed]:
    """Deduplicate by event id and sort into the canonical order."""
    by_id: dict[str, Consumed] = {}
    for raw in records:
        record = Consumed.from_envelope(raw) if isinstance(raw, Envelope) else raw
        seen = by_id.get(record.event_id)
        if seen is None:
            by_id[record.event_id] = record
        elif seen != record:
            raise ConflictingDuplicate(f"event {record.event_id} was read with two contents")
    return sorted(by_id.values(), key=lambda r: r.order_key)


@dataclass
class Facts:
    """Everything the ledger needs, each fact with the id of the event that established it."""

    scheduled: dict[str, tuple[str, ClassScheduled]] = field(default_factory=dict)
    completed: dict[str, tuple[str, ClassCompleted]] = field(default_factory=dict)
    attendance: dict[str, tuple[str, AttendanceRecorded]] = field(default_factory=dict)
    voided: dict[str, str] = field(default_factory=dict)  # attendance id -> void event id
    attendance_of: dict[tuple[str, str], set[str]] = field(
        default_factory=lambda: defaultdict(set))  # (class, worker) -> attendance ids
    certificates: dict[str, tuple[str, SkillLevelCertified]] = field(default_factory=dict)
    revoked: dict[str, str] = field(default_factory=dict)  # certificate id -> event id
    certificates_of: dict[tuple[str, str], set[str]] = field(
        default_factory=lambda: defaultdict(set))  # (class, worker) -> certificate ids
    bodies: dict[str, tuple[str, AssessmentBodyRegistered]] = field(default_factory=dict)
    assessments: dict[str, tuple[str, AssessmentScheduled]] = field(default_factory=dict)
    policies: list[PolicyRef] = field(default_factory=list)
    allocations: dict[str, tuple[str, BudgetAllocated]] = field(default_factory=dict)
    batches: dict[str, tuple[str, DisbursementApproved]] = field(default_factory=dict)
    notices: dict[str, tuple[str, PublicNoticeStarted]] = field(default_factory=dict)
    objections: dict[str, tuple[str, ObjectionRaised]] = field(default_factory=dict)
    resolutions: dict[str, tuple[str, ObjectionResolved]] = field(default_factory=dict)
    instructions: dict[str, tuple[str, PaymentInstructionIssued]] = field(default_factory=dict)
    confirmations: dict[str, tuple[str, PaymentConfirmed]] = field(default_factory=dict)
    recoveries: dict[str, tuple[str, RecoveryReceived]] = field(default_factory=dict)

    def add(self, record: Consumed) -> bool:
        """Fold one record in; return whether it can change what is due (a change point)."""
        eid, ev = record.event_id, record.event
        match ev:
            case ClassScheduled():
                self.scheduled[ev.class_id] = (eid, ev)
            case ClassCompleted():
                self.completed.setdefault(ev.class_id, (eid, ev))
            case AttendanceRecorded():
                if ev.attendance_id in self.attendance:
                    return False
                self.attendance[ev.attendance_id] = (eid, ev)
                self.attendance_of[(ev.class_id, ev.worker_id)].add(ev.attendance_id)
                # Attendance only counts once its class is completed; before that it
                # cannot change what is due, so it is not a change point.
                return ev.class_id in self.completed
            case AttendanceVoided():
                self.voided.setdefault(ev.attendance_id, eid)
                return ev.class_id in self.completed
            case SkillLevelCertified():
                self.certificates.setdefault(ev.certificate_id, (eid, ev))
                self.certificates_of[(ev.class_id, ev.worker_id)].add(ev.certificate_id)
            case CertificationRevoked():
                self.revoked.setdefault(ev.certificate_id, eid)
            case AssessmentBodyRegistered():
                self.bodies.setdefault(ev.body_id, (eid, ev))
            case AssessmentScheduled():
                if ev.assessment_id in self.assessments:
                    return False
                self.assessments[ev.assessment_id] = (eid, ev)
                # An assessment bears on a claim only through a certificate that names it
                # (``entitlements._independent``); with none yet it cannot change what is
                # due (the certificate, when it comes, is a change point). Most assessments
                # are scheduled before their certificates: a third of a worker's
                # recomputations were for them.
                return any(cert.assessment_id == ev.assessment_id
                           for _, cert in self.certificates.values())
            case FundingPolicyPublished():
                self.policies.append(PolicyRef(eid, ev))
            case BudgetAllocated():
                self.allocations.setdefault(ev.allocation_id, (eid, ev))
                return False
            case DisbursementApproved():
                self.batches.setdefault(ev.batch_id, (eid, ev))
                return False
            case PublicNoticeStarted():
                self.notices.setdefault(ev.batch_id, (eid, ev))
                return False
            case ObjectionRaised():
                self.objections.setdefault(ev.objection_id, (eid, ev))
                return False
            case ObjectionResolved():
                self.resolutions.setdefault(ev.objection_id, (eid, ev))
                return False
            case PaymentInstructionIssued():
                self.instructions.setdefault(ev.instruction_id, (eid, ev))
                return False
            case PaymentConfirmed():
                self.confirmations.setdefault(ev.instruction_id, (eid, ev))
                return False
            case RecoveryReceived():
                self.recoveries.setdefault(ev.recovery_id, (eid, ev))
                return False
            case _:
                return False  # enrolment and other events: not money
        return True
