"""One ``decide`` per training aggregate, for handlers that route commands by type.

Each command's rules live in its own function (``schedule``, ``record``...); these only
dispatch, passing through what the handler supplies (today, ids, the institution, the roster).
"""

from __future__ import annotations

from typing import Any

from services.training.domain import attendance, class_run, institution
from services.training.domain.attendance import CompleteClass, RecordAttendance, VoidAttendance
from services.training.domain.class_run import ApproveClass, ClassEvent, ClassRun, ScheduleClass
from services.training.domain.institution import (
    AccreditInstitution,
    Institution,
    InstitutionEvent,
    ReinstateInstitution,
    SuspendInstitution,
)

InstitutionCommand = AccreditInstitution | SuspendInstitution | ReinstateInstitution
ClassCommand = ScheduleClass | ApproveClass | RecordAttendance | VoidAttendance | CompleteClass


def decide_institution(command: InstitutionCommand, state: Institution,
                       **given: Any) -> list[InstitutionEvent]:
    match command:
        case AccreditInstitution():
            return institution.accredit(command, state, **given)
        case SuspendInstitution():
            return institution.suspend(command, state, **given)
        case ReinstateInstitution():
            return institution.reinstate(command, state, **given)
    raise TypeError(f"not an institution command: {command!r}")


def decide_class(command: ClassCommand, state: ClassRun, **given: Any) -> list[ClassEvent]:
    match command:
        case ScheduleClass():
            return class_run.schedule(command, state, **given)
        case ApproveClass():
            return class_run.approve(command, state, **given)
        case RecordAttendance():
            return attendance.record(command, state, **given)
        case VoidAttendance():
            return attendance.void(command, state, **given)
        case CompleteClass():
            return attendance.complete(command, state, **given)
    raise TypeError(f"not a class command: {command!r}")
