"""Training's commands, as the kit's pipeline runs them (shared/runtime/commands.py).

Attendance and completion exclude each other per class with a PostgreSQL advisory lock on
the class: every check-in and void holds it shared (check-ins of one class run side by side),
a completion holds it exclusively. So a completion reads the class's live records from the read
model only once no check-in is in flight, and none can be added until it has committed (after
which the class stream says the class is completed, and check-ins are refused).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.training import projections
from services.training.domain.attendance import CompleteClass, RecordAttendance, VoidAttendance
from services.training.domain.catalogue import catalogue_by_code
from services.training.domain.class_run import ApproveClass, ClassRun, ScheduleClass
from services.training.domain.decide import (
    CLASS,
    INSTITUTION,
    TRAINEE,
    ClassGiven,
    InstitutionGiven,
    TraineeGiven,
    entries,
)
from services.training.domain.institution import (
    AccreditInstitution,
    ReinstateInstitution,
    SuspendInstitution,
)
from services.training.settings import TrainingSettings
from shared.aggregate import fold_data, load
from shared.auth.policy import Action, Target
from shared.calendar import programme_today
from shared.contracts import Event
from shared.contracts.training import ClassCompleted
from shared.runtime.commands import Call, CommandSpec
from shared.runtime.errors import NotFound

CATALOGUE = catalogue_by_code()

# Check-ins take the same lock shared, in training_check_in_facts_of_many (migrations/0005).
LOCK_CLASS = ("SELECT pg_advisory_xact_lock("
              "hashtextextended('songji.training.class:' || $1, 0))")


def _owner(class_id: str, state: ClassRun) -> Target:
    """The class's institution; 404 for a class never scheduled (asked only of a role that may
    act on classes at all: the pipeline checks the role first)."""
    if state.scheduled is None:
        raise NotFound("class_unknown", "No class is scheduled with this id.", class_id=class_id)
    return Target(institution_id=state.scheduled.institution_id)


# -- institutions ---------------------------------------------------------------------------

async def _institution_given(_: Call[Any]) -> InstitutionGiven:
    return InstitutionGiven(today=programme_today(), catalogue=CATALOGUE)


def _institution_spec(action: Action) -> CommandSpec[Any, Any, InstitutionGiven]:
    return CommandSpec(INSTITUTION, lambda cmd, _: cmd.institution_id, action,
                       given=_institution_given)


# -- classes --------------------------------------------------------------------------------

async def _schedule_given(call: Call[ScheduleClass]) -> ClassGiven:
    institution, _ = await load(call.ctx.store, INSTITUTION.stream(call.command.institution_id),
                                INSTITUTION.evolve, INSTITUTION.initial, conn=call.conn)
    return ClassGiven(today=programme_today(), catalogue=CATALOGUE, institution=institution)


async def _approve_given(call: Call[ApproveClass]) -> ClassGiven:
    """Approval re-checks the institution (a suspension since scheduling blocks it)."""
    institution_id = await call.conn.fetchval(
        "SELECT institution_id FROM class_runs WHERE class_id = $1", call.command.class_id)
    institution = INSTITUTION.initial
    if institution_id is not None:
        institution, _ = await load(call.ctx.store, INSTITUTION.stream(institution_id),
                                    INSTITUTION.evolve, INSTITUTION.initial, conn=call.conn)
    return ClassGiven(today=programme_today(), catalogue=CATALOGUE, institution=institution)


async def _complete_given(call: Call[CompleteClass]) -> ClassGiven:
    class_id = call.command.class_id
    await call.conn.execute(LOCK_CLASS, class_id)  # no check-in in flight, none until commit
    settings: TrainingSettings = call.ctx.settings
    return ClassGiven(today=programme_today(), catalogue=CATALOGUE,
                      roster=await projections.roster(call.conn, class_id),
                      records=entries(await projections.class_records(call.conn, class_id)),
                      threshold_percent=settings.attendance_threshold_percent)


def _completed(_: Call[CompleteClass], __: ClassGiven, events: Sequence[Event]) -> ClassCompleted:
    [event] = events
    assert isinstance(event, ClassCompleted)
    return event


# -- attendance -----------------------------------------------------------------------------

async def _check_in_facts(conn: asyncpg.Connection, pairs: Sequence[tuple[str, str]]
                          ) -> tuple[dict[str, ClassRun], set[tuple[str, str]]]:
    """Each class's state, and which (class, worker) pairs are on their class's roster, after
    the shared lock on every class named: one round trip (migrations/0005), and each class's
    stream folded once however many of its trainees check in together."""
    rows = await conn.fetch("SELECT * FROM training_check_in_facts_of_many($1, $2)",
                            [class_id for class_id, _ in pairs],
                            [worker_id for _, worker_id in pairs])
    events: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    on_roster: set[tuple[str, str]] = set()
    for row in rows:
        if row["worker_id"] is None:
            events[row["class_id"]].append((row["event_type"], row["data"]))
        else:
            on_roster.add((row["class_id"], row["worker_id"]))
    classes = {class_id: fold_data(of_class, CLASS.evolve, CLASS.initial)
               for class_id, of_class in events.items()}
    return classes, on_roster


async def _record_given(call: Call[RecordAttendance]) -> TraineeGiven:
    [given] = await _record_given_all([call])
    return given


async def _record_given_all(calls: Sequence[Call[RecordAttendance]]) -> list[TraineeGiven]:
    """What each check-in of a batch (or a lone one) is decided with, in one round trip."""
    pairs = [(call.command.class_id, call.command.worker_id) for call in calls]
    classes, on_roster = await _check_in_facts(calls[0].conn, pairs)
    today = programme_today()
    return [TraineeGiven(class_run=classes.get(class_id, CLASS.initial), worker_id=worker_id,
                         on_roster=(class_id, worker_id) in on_roster, today=today,
                         attendance_id=call.new_id())
            for call, (class_id, worker_id) in zip(calls, pairs, strict=True)]


async def _void_given(call: Call[VoidAttendance]) -> TraineeGiven:
    cmd = call.command
    worker_id = await projections.worker_of_record(call.conn, cmd.class_id, cmd.attendance_id)
    classes, _ = await _check_in_facts(call.conn, [(cmd.class_id, worker_id or "")])
    return TraineeGiven(class_run=classes.get(cmd.class_id, CLASS.initial),
                        worker_id=worker_id, on_roster=False, today=programme_today())


def _trainee(cmd: Any, given: TraineeGiven) -> tuple[str, str]:
    # A void naming no record of the class reads an empty stream: the rule refuses it
    # (attendance_unknown), after the scope check.
    return cmd.class_id, given.worker_id or ""


def _class_owner(cmd: Any, _: ClassRun, given: TraineeGiven) -> Target:
    return _owner(cmd.class_id, given.class_run)


COMMANDS: dict[type[Any], CommandSpec[Any, Any, Any]] = {
    AccreditInstitution: _institution_spec(Action.ACCREDIT_INSTITUTION),
    SuspendInstitution: _institution_spec(Action.SUSPEND_INSTITUTION),
    ReinstateInstitution: _institution_spec(Action.REINSTATE_INSTITUTION),
    ScheduleClass: CommandSpec(
        CLASS, lambda cmd, _: cmd.class_id, Action.SCHEDULE_CLASS, given=_schedule_given,
        scope=lambda cmd, _, __: Target(institution_id=cmd.institution_id)),
    ApproveClass: CommandSpec(CLASS, lambda cmd, _: cmd.class_id, Action.APPROVE_CLASS,
                              given=_approve_given),
    CompleteClass: CommandSpec(
        CLASS, lambda cmd, _: cmd.class_id, Action.COMPLETE_CLASS, given=_complete_given,
        scope=lambda cmd, state, _: _owner(cmd.class_id, state), answer=_completed,
        status_code=200),
    RecordAttendance: CommandSpec(
        TRAINEE, _trainee, Action.RECORD_ATTENDANCE, given=_record_given,
        given_all=_record_given_all, scope=_class_owner,
        answer=lambda call, given, _: {"attendance_id": given.attendance_id}, status_code=201,
        # A class checks in within the same minute, each trainee from a terminal's request.
        batch_key=lambda cmd: (cmd.class_id, cmd.worker_id)),
    VoidAttendance: CommandSpec(TRAINEE, _trainee, Action.VOID_ATTENDANCE, given=_void_given,
                                scope=_class_owner),
}
