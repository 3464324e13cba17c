"""Attendance per session per enrolled worker, corrections by voiding, and completing a class.

Nothing is edited or deleted: a wrong record is voided and a right one recorded anew, so the
history shows what was claimed and what was corrected (as xAPI and the SkillsFuture gateway do).
The roster (who is enrolled) is training's projection of enrolment's events, passed in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from services.training.domain.class_run import ClassEvent, ClassRun, require_scheduled
from shared.contracts.bounds import MAX_ATTENDANCE_RECORDS, MAX_CLASS_SIZE, Id
from shared.contracts.common import CheckInMethod
from shared.contracts.training import (
    AttendanceRecorded,
    AttendanceVoided,
    ClassCompleted,
    TraineeOutcome,
)
from shared.runtime.errors import DomainError

DEFAULT_THRESHOLD_PERCENT = 80


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RecordAttendance(_Command):
    class_id: Id
    session_id: Id
    worker_id: Id
    minutes: int = Field(ge=0)
    method: CheckInMethod


class VoidAttendance(_Command):
    class_id: Id
    attendance_id: Id
    reason: str = Field(min_length=1, max_length=500)


class CompleteClass(_Command):
    class_id: Id


def record(cmd: RecordAttendance, state: ClassRun, *, roster: Collection[str],
           attendance_id: str, today: date) -> list[ClassEvent]:
    _require_running(state, cmd.class_id)
    session = state.sessions.get(cmd.session_id)
    if session is None:
        raise DomainError("session_unknown", "The class has no session with this id.",
                          class_id=cmd.class_id, session_id=cmd.session_id)
    if session.date > today:
        raise DomainError("session_not_held_yet",
                          f"The session on {session.date} has not been held yet.",
                          session_id=cmd.session_id)
    if cmd.worker_id not in roster:
        raise DomainError("worker_not_enrolled", "The worker is not enrolled in this class.",
                          class_id=cmd.class_id, worker_id=cmd.worker_id)
    if cmd.minutes > session.minutes:
        raise DomainError("minutes_exceed_session",
                          f"{cmd.minutes} minutes is more than the session's "
                          f"{session.minutes}.",
                          minutes=cmd.minutes, session_minutes=session.minutes)
    for entry in state.live_attendance():
        if entry.session_id == cmd.session_id and entry.worker_id == cmd.worker_id:
            raise DomainError("attendance_already_recorded",
                              "The worker's attendance at this session is already recorded; "
                              "void it first to correct it.",
                              attendance_id=entry.attendance_id)
    # Every record and void of a trainee justifies their living subsidy line (PayoutDue's
    # justified_by): bounded here, so that event always fits in a broker message.
    records = sum(1 for e in state.attendance.values() if e.worker_id == cmd.worker_id)
    if records >= MAX_ATTENDANCE_RECORDS:
        raise DomainError("too_many_attendance_records",
                          f"The worker already has {records} attendance records in this class, "
                          "corrections included; no more can be recorded.",
                          worker_id=cmd.worker_id, limit=MAX_ATTENDANCE_RECORDS)
    return [AttendanceRecorded(
        attendance_id=attendance_id, class_id=cmd.class_id, session_id=cmd.session_id,
        session_date=session.date, worker_id=cmd.worker_id, minutes=cmd.minutes,
        method=cmd.method,
    )]


def void(cmd: VoidAttendance, state: ClassRun) -> list[ClassEvent]:
    _require_running(state, cmd.class_id)
    entry = state.attendance.get(cmd.attendance_id)
    if entry is None:
        raise DomainError("attendance_unknown", "The class has no attendance record with this id.",
                          attendance_id=cmd.attendance_id)
    if entry.voided:
        raise DomainError("attendance_already_voided", "This attendance record is already void.",
                          attendance_id=cmd.attendance_id)
    return [AttendanceVoided(
        attendance_id=entry.attendance_id, class_id=cmd.class_id, session_id=entry.session_id,
        session_date=entry.session_date, worker_id=entry.worker_id, reason=cmd.reason,
    )]


def complete(cmd: CompleteClass, state: ClassRun, *, roster: Collection[str], today: date,
             threshold_percent: int = DEFAULT_THRESHOLD_PERCENT) -> list[ClassEvent]:
    _require_running(state, cmd.class_id)
    scheduled = state.scheduled
    assert scheduled is not None and state.last_session_date is not None
    if today < state.last_session_date:
        raise DomainError("class_not_finished",
                          f"The class's last session is on {state.last_session_date}.",
                          last_session_date=state.last_session_date.isoformat())
    if len(roster) > MAX_CLASS_SIZE:
        raise DomainError("roster_too_large",
                          f"{len(roster)} trainees are enrolled; a class has at most "
                          f"{MAX_CLASS_SIZE}.", class_id=cmd.class_id, limit=MAX_CLASS_SIZE)
    minutes: dict[str, int] = defaultdict(int)
    days: dict[str, set[date]] = defaultdict(set)
    for entry in state.live_attendance():
        minutes[entry.worker_id] += entry.minutes
        if entry.minutes > 0:
            days[entry.worker_id].add(entry.session_date)
    required = scheduled.required_minutes
    trainees = [
        TraineeOutcome(
            worker_id=worker_id,
            attended_minutes=minutes[worker_id],
            required_minutes=required,
            attendance_ratio=round(minutes[worker_id] / required, 4),
            # Integer comparison, so 79.999...% never rounds up into a pass.
            met_threshold=minutes[worker_id] * 100 >= required * threshold_percent,
            days_attended=sorted(days[worker_id]),
        )
        for worker_id in sorted(roster)
    ]
    return [ClassCompleted(
        class_id=cmd.class_id, institution_id=scheduled.institution_id,
        occupation_code=scheduled.occupation_code, target_level=scheduled.target_level,
        site=scheduled.site, first_session_date=min(s.date for s in scheduled.sessions),
        completed_on=today, threshold_percent=threshold_percent, trainees=trainees,
    )]


def _require_running(state: ClassRun, class_id: str) -> None:
    """Attendance and completion only happen between approval and completion."""
    require_scheduled(state, class_id)
    if not state.approved:
        raise DomainError("class_not_approved", "The HR bureau has not approved this class yet.",
                          class_id=class_id)
    if state.completed:
        raise DomainError("class_already_completed", "This class is already completed.",
                          class_id=class_id)
