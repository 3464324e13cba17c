"""Events published by the training service (topic ``songji.training.events``).

Durations are whole minutes (integers), so sums and thresholds are exact.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.base import Event, contract
from shared.contracts.bounds import (
    MAX_CLASS_DAYS,
    MAX_CLASS_SIZE,
    MAX_OCCUPATIONS,
    MAX_PEOPLE,
    MAX_SESSIONS,
    MAX_SITES,
    MAX_TIES,
    Id,
    ShortText,
    Text,
)
from shared.contracts.common import (
    CheckInMethod,
    ClassMode,
    LocalTime,
    OccupationCode,
    SessionKind,
    SkillLevel,
    WorkSite,
)


class SessionPlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: Id
    date: date
    start_local: LocalTime = Field(description="Local start time in Asia/Shanghai")
    end_local: LocalTime = Field(description="Local end time in Asia/Shanghai")
    kind: SessionKind
    minutes: int = Field(gt=0, description="Length of the session")


@contract("training")
class InstitutionAccredited(Event):
    """The HR bureau accredited a training institution (government purchase of service)."""

    institution_id: Id
    name: ShortText = Field(description="The institution's registered name (not personal data)")
    occupations: list[OccupationCode] = Field(max_length=MAX_OCCUPATIONS)
    sites: list[WorkSite] = Field(max_length=MAX_SITES)
    partners: list[ShortText] = Field(default_factory=list, max_length=MAX_TIES,
                                      description="Partner enterprises or schools")
    accredited_on: date


@contract("training")
class InstitutionSuspended(Event):
    """An institution may not open classes until reinstated, with the reason."""

    institution_id: Id
    reason: Text
    suspended_on: date


@contract("training")
class InstitutionReinstated(Event):
    """A suspended institution may open classes again."""

    institution_id: Id
    reinstated_on: date


@contract("training")
class ClassScheduled(Event):
    """An institution scheduled a class run: occupation, level, site, mode, sessions."""

    class_id: Id
    institution_id: Id
    occupation_code: OccupationCode
    target_level: SkillLevel
    site: WorkSite
    mode: ClassMode
    capacity: int = Field(gt=0)
    sessions: list[SessionPlan] = Field(min_length=1, max_length=MAX_SESSIONS)
    required_minutes: int = Field(gt=0, description="Class hours the catalogue requires")
    trainer_ids: list[Id] = Field(default_factory=list, max_length=MAX_PEOPLE,
                                  description="Ids of the people who teach the class")


@contract("training")
class ClassApproved(Event):
    """The HR bureau approved the class (开班申请); enrolment opens."""

    class_id: Id
    approved_on: date


@contract("training")
class AttendanceRecorded(Event):
    """A trainee's attended minutes at one session, and how they checked in."""

    attendance_id: Id
    class_id: Id
    session_id: Id
    session_date: date
    worker_id: Id
    minutes: int = Field(ge=0)
    method: CheckInMethod


@contract("training")
class AttendanceVoided(Event):
    """A correction: the record no longer counts. Nothing is ever edited or deleted."""

    attendance_id: Id
    class_id: Id
    session_id: Id
    session_date: date
    worker_id: Id
    reason: Text


class TraineeOutcome(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    worker_id: Id
    attended_minutes: int = Field(ge=0)
    required_minutes: int = Field(gt=0)
    attendance_ratio: float = Field(ge=0, description="attended / required, 4 decimals")
    met_threshold: bool
    days_attended: list[date] = Field(default_factory=list, max_length=MAX_CLASS_DAYS)


@contract("training")
class ClassCompleted(Event):
    """A class ended: every enrolled trainee's hours and whether they met the threshold."""

    class_id: Id
    institution_id: Id
    occupation_code: OccupationCode
    target_level: SkillLevel
    site: WorkSite
    first_session_date: date
    completed_on: date
    threshold_percent: int = Field(ge=0, le=100)
    trainees: list[TraineeOutcome] = Field(max_length=MAX_CLASS_SIZE)
