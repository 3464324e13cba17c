"""A class run: scheduled by an institution, approved by the HR bureau, then taught.

The stream of one class holds its schedule, its approval, every attendance record and void,
and its completion; ``evolve`` folds them into ``ClassRun``. Attendance and completion rules
live in ``attendance.py``; this module is the schedule and the approval (开班申请).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.training.domain.catalogue import Occupation
from services.training.domain.institution import Institution
from shared.contracts.bounds import MAX_CLASS_DAYS, MAX_CLASS_SIZE, MAX_PEOPLE, MAX_SESSIONS, Id
from shared.contracts.common import (
    ClassMode,
    LocalTime,
    OccupationCode,
    SessionKind,
    SkillLevel,
    WorkSite,
)
from shared.contracts.training import (
    AttendanceRecorded,
    AttendanceVoided,
    ClassApproved,
    ClassCompleted,
    ClassScheduled,
    SessionPlan,
)
from shared.runtime.errors import DomainError

# Sessions are planned in local wall time where the programme is run from; the zone, not a
# fixed +08:00, is what makes start and end real instants.
SHANGHAI = ZoneInfo("Asia/Shanghai")

ClassEvent = ClassScheduled | ClassApproved | AttendanceRecorded | AttendanceVoided | ClassCompleted


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlannedSession(_Command):
    date: date
    start_local: LocalTime = Field(description="Local start time in Asia/Shanghai")
    end_local: LocalTime = Field(description="Local end time in Asia/Shanghai")
    kind: SessionKind


class ScheduleClass(_Command):
    # No '/': a class is addressed by it in URLs, and its attendance streams are named
    # under it (``class-{id}/trainee-{worker}``), which must never be another class's stream.
    class_id: str = Field(min_length=1, max_length=64, pattern=r"^[^/]+$")
    institution_id: str = Field(min_length=1, max_length=64)
    occupation_code: OccupationCode
    target_level: SkillLevel
    site: WorkSite
    mode: ClassMode
    capacity: int = Field(gt=0, le=MAX_CLASS_SIZE)
    sessions: list[PlannedSession] = Field(min_length=1, max_length=MAX_SESSIONS)
    required_minutes: int = Field(gt=0)
    trainer_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=MAX_PEOPLE)

    @field_validator("sessions")
    @classmethod
    def _on_few_enough_days(cls, sessions: list[PlannedSession]) -> list[PlannedSession]:
        # Each trainee's attended days travel in ClassCompleted: bounding the days bounds
        # that event (see shared/contracts/bounds.py).
        days = len({s.date for s in sessions})
        if days > MAX_CLASS_DAYS:
            raise ValueError(f"sessions on {days} days: at most {MAX_CLASS_DAYS}")
        return sessions


class ApproveClass(_Command):
    class_id: Id


@dataclass(frozen=True, slots=True)
class AttendanceEntry:
    attendance_id: str
    session_id: str
    session_date: date
    worker_id: str
    minutes: int
    voided: bool = False


@dataclass(frozen=True, slots=True)
class ClassRun:
    class_id: str | None = None
    scheduled: ClassScheduled | None = None
    approved: bool = False
    completed: bool = False
    attendance: Mapping[str, AttendanceEntry] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.scheduled is not None

    @property
    def sessions(self) -> dict[str, SessionPlan]:
        return {s.session_id: s for s in self.scheduled.sessions} if self.scheduled else {}

    @property
    def last_session_date(self) -> date | None:
        return max(s.date for s in self.scheduled.sessions) if self.scheduled else None

    def live_attendance(self) -> list[AttendanceEntry]:
        return [a for a in self.attendance.values() if not a.voided]


def session_bounds(day: date, start_local: time, end_local: time) -> tuple[datetime, datetime]:
    """The session's start and end as timezone-aware instants."""
    return (datetime.combine(day, start_local, tzinfo=SHANGHAI),
            datetime.combine(day, end_local, tzinfo=SHANGHAI))


def session_minutes(day: date, start_local: time, end_local: time) -> int:
    """Whole minutes from start to end; a session must end after it starts, the same day."""
    start, end = session_bounds(day, start_local, end_local)
    seconds = int((end - start).total_seconds())
    if seconds <= 0:
        raise DomainError("session_ends_before_it_starts",
                          f"The session on {day} ends at {end_local} but starts at "
                          f"{start_local}; a session starts and ends on the same day.",
                          session_date=day.isoformat())
    return seconds // 60


def schedule(cmd: ScheduleClass, state: ClassRun, *, institution: Institution,
             catalogue: Mapping[str, Occupation]) -> list[ClassEvent]:
    if state.exists:
        raise DomainError("class_already_scheduled", "A class with this id is already scheduled.",
                          class_id=cmd.class_id)
    _require_may_open(institution, cmd.institution_id)
    occupation = catalogue.get(cmd.occupation_code)
    if occupation is None:
        raise DomainError("occupation_not_in_catalogue",
                          f"{cmd.occupation_code} is not in the occupation catalogue.",
                          occupation_code=cmd.occupation_code)
    if not occupation.offers(cmd.target_level):
        raise DomainError("level_not_offered",
                          f"The catalogue does not offer {cmd.occupation_code} at level "
                          f"{cmd.target_level}.", offered=sorted(occupation.levels))
    if not institution.may_teach(cmd.occupation_code):
        raise DomainError("occupation_not_in_scope",
                          f"The institution is not accredited to teach {cmd.occupation_code}.",
                          institution_id=cmd.institution_id)
    if not institution.may_teach_at(cmd.site):
        raise DomainError("site_not_in_scope",
                          "The institution is not accredited to teach at this site.",
                          institution_id=cmd.institution_id)
    plans = _session_plans(cmd.sessions)
    planned_minutes = sum(p.minutes for p in plans)
    if cmd.required_minutes > planned_minutes:
        raise DomainError("required_minutes_exceed_sessions",
                          f"The class requires {cmd.required_minutes} minutes but its sessions "
                          f"add up to {planned_minutes}.",
                          required_minutes=cmd.required_minutes, planned_minutes=planned_minutes)
    return [ClassScheduled(
        class_id=cmd.class_id, institution_id=cmd.institution_id,
        occupation_code=cmd.occupation_code, target_level=cmd.target_level, site=cmd.site,
        mode=cmd.mode, capacity=cmd.capacity, sessions=plans,
        required_minutes=cmd.required_minutes, trainer_ids=sorted(set(cmd.trainer_ids)),
    )]


def approve(cmd: ApproveClass, state: ClassRun, *, institution: Institution,
            today: date) -> list[ClassEvent]:
    require_scheduled(state, cmd.class_id)
    assert state.scheduled is not None
    if state.approved:
        raise DomainError("class_already_approved", "This class is already approved.",
                          class_id=cmd.class_id)
    # Approval is what opens the class, so a suspension since scheduling still blocks it.
    _require_may_open(institution, state.scheduled.institution_id)
    return [ClassApproved(class_id=cmd.class_id, approved_on=today)]


def evolve(state: ClassRun, event: ClassEvent) -> ClassRun:
    match event:
        case ClassScheduled():
            return ClassRun(class_id=event.class_id, scheduled=event)
        case ClassApproved():
            return replace(state, approved=True)
        case AttendanceRecorded():
            entry = AttendanceEntry(event.attendance_id, event.session_id, event.session_date,
                                    event.worker_id, event.minutes)
            return replace(state, attendance={**state.attendance, event.attendance_id: entry})
        case AttendanceVoided():
            voided = replace(state.attendance[event.attendance_id], voided=True)
            return replace(state, attendance={**state.attendance, event.attendance_id: voided})
        case ClassCompleted():
            return replace(state, completed=True)
    return state


def require_scheduled(state: ClassRun, class_id: str) -> None:
    if not state.exists:
        raise DomainError("class_unknown", "No class is scheduled with this id.",
                          class_id=class_id)


def _require_may_open(institution: Institution, institution_id: str) -> None:
    if not institution.accredited:
        raise DomainError("institution_unknown", "No accredited institution has this id.",
                          institution_id=institution_id)
    if institution.suspended:
        raise DomainError("institution_suspended",
                          "A suspended institution cannot open a class.",
                          institution_id=institution_id)


def _session_plans(sessions: list[PlannedSession]) -> list[SessionPlan]:
    """Sessions in time order, with ids by position and minutes derived from start and end."""
    ordered = sorted(sessions, key=lambda s: (s.date, s.start_local))
    plans: list[SessionPlan] = []
    for index, s in enumerate(ordered, start=1):
        minutes = session_minutes(s.date, s.start_local, s.end_local)
        previous = plans[-1] if plans else None
        if previous and previous.date == s.date and previous.end_local > s.start_local:
            raise DomainError("sessions_overlap",
                              f"Two sessions on {s.date} overlap: one ends at "
                              f"{previous.end_local}, the next starts at {s.start_local}.",
                              session_date=s.date.isoformat())
        plans.append(SessionPlan(session_id=f"s{index:03d}", date=s.date,
                                 start_local=s.start_local, end_local=s.end_local,
                                 kind=s.kind, minutes=minutes))
    return plans
