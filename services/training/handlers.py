"""Training's command handlers: authorise, load, decide, append and project, in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from services.training import projections
from services.training.domain import attendance, class_run, institution
from services.training.domain.attendance import CompleteClass, RecordAttendance, VoidAttendance
from services.training.domain.catalogue import catalogue_by_code
from services.training.domain.class_run import ApproveClass, ClassRun, ScheduleClass
from services.training.domain.institution import (
    AccreditInstitution,
    Institution,
    ReinstateInstitution,
    SuspendInstitution,
)
from services.training.settings import TrainingSettings
from shared.aggregate import load
from shared.auth.policy import Action, Organisation, Target, require
from shared.calendar import programme_today
from shared.contracts import Event, Metadata
from shared.contracts.training import ClassCompleted
from shared.runtime.errors import NotFound
from shared.runtime.service import ServiceContext

CATALOGUE = catalogue_by_code()


def institution_stream(institution_id: str) -> str:
    return f"institution-{institution_id}"


def class_stream(class_id: str) -> str:
    return f"class-{class_id}"


async def _append(ctx: ServiceContext, stream: str, version: int, events: Sequence[Event],
                  metadata: Metadata) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        await ctx.store.append(stream, version, events, metadata, conn=conn)
        await projections.project(conn, events)


async def _institution(ctx: ServiceContext, institution_id: str) -> tuple[Institution, int]:
    return await load(ctx.store, institution_stream(institution_id), institution.evolve,
                      Institution())


async def _class(ctx: ServiceContext, class_id: str) -> tuple[ClassRun, int]:
    return await load(ctx.store, class_stream(class_id), class_run.evolve, ClassRun())


async def _owned_class(ctx: ServiceContext, class_id: str, org: Organisation,
                       action: Action) -> tuple[ClassRun, int]:
    """The class, once the organisation is known to be allowed to act on it."""
    state, version = await _class(ctx, class_id)
    if state.scheduled is None:
        # Before looking up the owner, only roles that may act at all learn it is missing.
        require(org, action, Target(institution_id=org.institution_id))
        raise NotFound("class_unknown", "No class is scheduled with this id.", class_id=class_id)
    require(org, action, Target(institution_id=state.scheduled.institution_id))
    return state, version


# -- institutions --------------------------------------------------------------------------

async def accredit(ctx: ServiceContext, cmd: AccreditInstitution, org: Organisation,
                   metadata: Metadata) -> None:
    require(org, Action.ACCREDIT_INSTITUTION)
    state, version = await _institution(ctx, cmd.institution_id)
    events = institution.accredit(cmd, state, catalogue=CATALOGUE, today=programme_today())
    await _append(ctx, institution_stream(cmd.institution_id), version, events, metadata)


async def suspend(ctx: ServiceContext, cmd: SuspendInstitution, org: Organisation,
                  metadata: Metadata) -> None:
    require(org, Action.SUSPEND_INSTITUTION)
    state, version = await _institution(ctx, cmd.institution_id)
    events = institution.suspend(cmd, state, today=programme_today())
    await _append(ctx, institution_stream(cmd.institution_id), version, events, metadata)


async def reinstate(ctx: ServiceContext, cmd: ReinstateInstitution, org: Organisation,
                    metadata: Metadata) -> None:
    require(org, Action.REINSTATE_INSTITUTION)
    state, version = await _institution(ctx, cmd.institution_id)
    events = institution.reinstate(cmd, state, today=programme_today())
    await _append(ctx, institution_stream(cmd.institution_id), version, events, metadata)


# -- classes -------------------------------------------------------------------------------

async def schedule(ctx: ServiceContext, cmd: ScheduleClass, org: Organisation,
                   metadata: Metadata) -> None:
    require(org, Action.SCHEDULE_CLASS, Target(institution_id=cmd.institution_id))
    inst, _ = await _institution(ctx, cmd.institution_id)
    state, version = await _class(ctx, cmd.class_id)
    events = class_run.schedule(cmd, state, institution=inst, catalogue=CATALOGUE)
    await _append(ctx, class_stream(cmd.class_id), version, events, metadata)


async def approve(ctx: ServiceContext, cmd: ApproveClass, org: Organisation,
                  metadata: Metadata) -> None:
    require(org, Action.APPROVE_CLASS)
    state, version = await _class(ctx, cmd.class_id)
    class_run.require_scheduled(state, cmd.class_id)
    assert state.scheduled is not None
    inst, _ = await _institution(ctx, state.scheduled.institution_id)
    events = class_run.approve(cmd, state, institution=inst, today=programme_today())
    await _append(ctx, class_stream(cmd.class_id), version, events, metadata)


async def record_attendance(ctx: ServiceContext, cmd: RecordAttendance, org: Organisation,
                            metadata: Metadata) -> str:
    state, version = await _owned_class(ctx, cmd.class_id, org, Action.RECORD_ATTENDANCE)
    async with ctx.pool.acquire() as conn:
        roster = await projections.roster(conn, cmd.class_id)
    attendance_id = uuid.uuid4().hex
    events = attendance.record(cmd, state, roster=roster, attendance_id=attendance_id,
                               today=programme_today())
    await _append(ctx, class_stream(cmd.class_id), version, events, metadata)
    return attendance_id


async def void_attendance(ctx: ServiceContext, cmd: VoidAttendance, org: Organisation,
                          metadata: Metadata) -> None:
    state, version = await _owned_class(ctx, cmd.class_id, org, Action.VOID_ATTENDANCE)
    events = attendance.void(cmd, state)
    await _append(ctx, class_stream(cmd.class_id), version, events, metadata)


async def complete(ctx: ServiceContext, cmd: CompleteClass, org: Organisation,
                   metadata: Metadata) -> ClassCompleted:
    state, version = await _owned_class(ctx, cmd.class_id, org, Action.COMPLETE_CLASS)
    async with ctx.pool.acquire() as conn:
        roster = await projections.roster(conn, cmd.class_id)
    settings = ctx.settings
    threshold = (settings.attendance_threshold_percent
                 if isinstance(settings, TrainingSettings) else 80)
    [event] = attendance.complete(cmd, state, roster=roster, today=programme_today(),
                                  threshold_percent=threshold)
    await _append(ctx, class_stream(cmd.class_id), version, [event], metadata)
    assert isinstance(event, ClassCompleted)
    return event
