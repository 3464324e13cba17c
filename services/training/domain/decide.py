"""Training's aggregates as deciders: where each one's events live, how they fold, and one
``decide`` per aggregate that routes a command to its rule (``schedule``, ``record``...).

Three kinds of stream:

- ``institution-{id}``: accreditation, suspension, reinstatement;
- ``class-{id}``: the schedule, the approval and the completion (a handful of events);
- ``class-{id}/trainee-{worker}``: one trainee's attendance records and voids in that class.

Attendance is kept per trainee so that a whole class checking in at once writes to as many
streams as there are trainees (no two check-ins race for one stream), and so that a check-in
reads its trainee's records, not the whole class's: a command's cost does not grow with the
class. The rules that span the class are kept: the class stream says which sessions exist and
whether the class runs; a trainee's stream says what is already recorded for them; the
completion reads every live record of the class from the read model written in the same
transactions as the records, while no record can be added (see services/training/commands.py).
A trainee's stream is named after its class, so the relay publishes it under the class's key
(``shared.eventsourcing.store.partition_key``): a class's records and its completion reach
every consumer in the order they were committed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any
from urllib.parse import quote

from services.training.domain import attendance, class_run, institution
from services.training.domain.attendance import CompleteClass, RecordAttendance, VoidAttendance
from services.training.domain.catalogue import Occupation
from services.training.domain.class_run import (
    ApproveClass,
    AttendanceEntry,
    ClassEvent,
    ClassRun,
    ScheduleClass,
)
from services.training.domain.institution import (
    AccreditInstitution,
    Institution,
    InstitutionEvent,
    ReinstateInstitution,
    SuspendInstitution,
)
from shared.runtime.commands import Decider

InstitutionCommand = AccreditInstitution | SuspendInstitution | ReinstateInstitution
ClassCommand = ScheduleClass | ApproveClass | CompleteClass
TraineeCommand = RecordAttendance | VoidAttendance


def institution_stream(institution_id: str) -> str:
    return f"institution-{institution_id}"


def class_stream(class_id: str) -> str:
    return f"class-{class_id}"


def trainee_stream(key: tuple[str, str]) -> str:
    """``class-{class}/trainee-{worker}``; the worker id is percent-escaped, so no '/' in it
    can make two (class, worker) pairs share a stream."""
    class_id, worker_id = key
    return f"{class_stream(class_id)}/trainee-{quote(worker_id, safe='')}"


@dataclass(frozen=True, slots=True)
class InstitutionGiven:
    today: date
    catalogue: Mapping[str, Occupation]


@dataclass(frozen=True, slots=True)
class ClassGiven:
    """What a class command is decided with: the institution's state (schedule, approval),
    the roster and every live record of the class (completion), today, the catalogue."""

    today: date
    catalogue: Mapping[str, Occupation]
    institution: Institution = field(default_factory=Institution)
    roster: Collection[str] = frozenset()
    records: Mapping[str, AttendanceEntry] | None = None
    threshold_percent: int = attendance.DEFAULT_THRESHOLD_PERCENT


@dataclass(frozen=True, slots=True)
class TraineeGiven:
    """What a trainee's check-in or void is decided with: the class (its sessions, whether it
    runs), whether the trainee is on the roster, the id a new record gets, today."""

    class_run: ClassRun
    worker_id: str | None
    on_roster: bool
    today: date
    attendance_id: str = ""


def decide_institution(command: InstitutionCommand, state: Institution,
                       given: InstitutionGiven) -> list[InstitutionEvent]:
    match command:
        case AccreditInstitution():
            return institution.accredit(command, state, catalogue=given.catalogue,
                                        today=given.today)
        case SuspendInstitution():
            return institution.suspend(command, state, today=given.today)
        case ReinstateInstitution():
            return institution.reinstate(command, state, today=given.today)
    raise TypeError(f"not an institution command: {command!r}")


def decide_class(command: ClassCommand, state: ClassRun, given: ClassGiven) -> list[ClassEvent]:
    match command:
        case ScheduleClass():
            return class_run.schedule(command, state, institution=given.institution,
                                      catalogue=given.catalogue)
        case ApproveClass():
            return class_run.approve(command, state, institution=given.institution,
                                     today=given.today)
        case CompleteClass():
            with_records = replace(state, attendance=given.records or {})
            return attendance.complete(command, with_records, roster=given.roster,
                                       today=given.today,
                                       threshold_percent=given.threshold_percent)
    raise TypeError(f"not a class command: {command!r}")


def decide_trainee(command: TraineeCommand, state: ClassRun,
                   given: TraineeGiven) -> list[ClassEvent]:
    """``state`` is the trainee's stream folded: only its ``attendance`` is set. The rules
    see it joined to the class's schedule and status."""
    joined = replace(given.class_run, attendance=state.attendance)
    match command:
        case RecordAttendance():
            roster = {command.worker_id} if given.on_roster else set()
            return attendance.record(command, joined, roster=roster,
                                     attendance_id=given.attendance_id, today=given.today)
        case VoidAttendance():
            return attendance.void(command, joined)
    raise TypeError(f"not an attendance command: {command!r}")


INSTITUTION: Decider[Institution] = Decider(institution_stream, Institution(), institution.evolve,
                                            decide_institution)
CLASS: Decider[ClassRun] = Decider(class_stream, ClassRun(), class_run.evolve, decide_class)
TRAINEE: Decider[ClassRun] = Decider(trainee_stream, ClassRun(), class_run.evolve,
                                     decide_trainee)


def entries(rows: Collection[Mapping[str, Any]]) -> dict[str, AttendanceEntry]:
    """Attendance records as the read model holds them, as the rules see them."""
    return {r["attendance_id"]: AttendanceEntry(
        r["attendance_id"], r["session_id"], r["session_date"], r["worker_id"], r["minutes"],
        voided=r["voided_reason"] is not None) for r in rows}
