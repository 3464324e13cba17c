"""What a notification is before it is sent: a recipient, a kind, parameters and a time.

Parameters hold ids, codes, dates and amounts only. A worker's name and phone are added from
enrolment's API at send time and live only in the sender's memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

# China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact and
# needs no time-zone database on the host.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

RecipientKind = Literal["worker", "department"]


class Kind(StrEnum):
    ENROLMENT_CONFIRMED = "enrolment_confirmed"
    CLASS_SCHEDULE = "class_schedule"
    SESSION_REMINDER = "session_reminder"
    CERTIFICATE_ISSUED = "certificate_issued"
    SUBSIDY_PAID = "subsidy_paid"
    WOMENS_FOLLOWUP_ENROLLED = "womens_followup_enrolled"
    WOMENS_FOLLOWUP_COMPLETED = "womens_followup_completed"
    WOMENS_FOLLOWUP_CERTIFIED = "womens_followup_certified"
    UNION_NEWLY_CERTIFIED = "union_newly_certified"
    STATION_CLASS_COMPLETED = "station_class_completed"
    HR_OBJECTION_RAISED = "hr_objection_raised"
    # After the certificate (employment's events).
    REFERRAL_MADE = "referral_made"
    FOLLOW_UP_REMINDER = "follow_up_reminder"
    STATION_FOLLOW_UP_DUE = "station_follow_up_due"
    UNION_NEWLY_PLACED = "union_newly_placed"
    WOMENS_FOLLOWUP_PLACED = "womens_followup_placed"
    WOMENS_FOLLOWUP_NOT_PLACED = "womens_followup_not_placed"
    HR_BUSINESS_GUIDANCE_REQUESTED = "hr_business_guidance_requested"


# Kinds about a class a worker may still withdraw from: withdrawing cancels those not yet sent.
CANCELLED_BY_WITHDRAWAL = frozenset({Kind.CLASS_SCHEDULE, Kind.SESSION_REMINDER})
# Kinds about a placement's coming follow-ups: recording a follow-up cancels its own, and a
# follow-up recording that the worker left cancels every one not yet sent.
CANCELLED_WHEN_LEFT = frozenset({Kind.FOLLOW_UP_REMINDER, Kind.STATION_FOLLOW_UP_DUE})

HR_BUREAU = "hr_bureau"
TRADE_UNION = "trade_union"
WOMENS_FEDERATION = "womens_federation"
STATION_PREFIX = "liaison_station"


def station_key(province: str, city: str) -> str:
    """The department key of the liaison station that covers a city or district."""
    return f"{STATION_PREFIX}:{province}/{city}"


@dataclass(frozen=True, slots=True)
class Recipient:
    kind: RecipientKind
    id: str  # a pseudonymous worker id, or a department key

    @classmethod
    def worker(cls, worker_id: str) -> Recipient:
        return cls("worker", worker_id)

    @classmethod
    def department(cls, key: str) -> Recipient:
        return cls("department", key)


@dataclass(frozen=True, slots=True)
class Planned:
    """One notification to enqueue; (source event, recipient, kind, ref) makes it unique."""

    recipient: Recipient
    kind: Kind
    params: Mapping[str, Any]
    not_before: datetime
    urgent: bool = False
    ref: str = ""  # tells apart several of one kind for one event, e.g. one per session
    expires_at: datetime | None = None  # a reminder is pointless once its session started
    worker_id: str | None = None  # whom it is about, so a withdrawal can cancel it
    class_id: str | None = None
    only_if_female: str | None = field(default=None)  # a worker id whose gender decides
    # The event the notice is about, when it is not the one being handled: a class's schedule
    # is about its ClassScheduled whether the enrolment or the schedule reached us last, so
    # the notice is the same one (and is enqueued once) in either order.
    about: tuple[UUID, str] | None = None

    def __post_init__(self) -> None:
        if self.not_before.tzinfo is None:
            raise ValueError("not_before must be timezone-aware")
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")


def resolve_gender(planned: Planned, gender: str | None) -> Planned | Literal["wait"] | None:
    """A women's-federation notice goes ahead for a woman, is dropped for a man, and waits
    while the worker's registration has not been seen yet (topics are not ordered together)."""
    if planned.only_if_female is None:
        return planned
    if gender is None:
        return "wait"
    return planned if gender == "female" else None
