"""Training's HTTP API. Every command needs an organisation's bearer token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field

from services.training import handlers, projections
from services.training.domain.attendance import CompleteClass, RecordAttendance, VoidAttendance
from services.training.domain.catalogue import SEED_DEMAND, SEED_OCCUPATIONS
from services.training.domain.class_run import ApproveClass, ScheduleClass
from services.training.domain.institution import (
    AccreditInstitution,
    ReinstateInstitution,
    SuspendInstitution,
)
from shared.auth.http import REFUSALS, Acting, acting_metadata
from shared.auth.policy import Action, Target, require
from shared.contracts.bounds import Id
from shared.contracts.common import CheckInMethod
from shared.contracts.training import ClassCompleted
from shared.runtime.errors import NotFound
from shared.runtime.service import Context

router = APIRouter()



class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class Attendance(BaseModel):
    session_id: Id
    worker_id: Id
    minutes: int = Field(ge=0, description="Whole minutes attended")
    method: CheckInMethod


class AttendanceCreated(BaseModel):
    attendance_id: str


@router.get("/occupations", tags=["catalogue"], summary="The occupation catalogue",
            responses={401: REFUSALS[401]})
async def get_occupations(_: Acting) -> list[dict[str, Any]]:
    return [{"code": o.code, "name_zh": o.name_zh, "name_en": o.name_en,
             "levels": sorted(o.levels)} for o in SEED_OCCUPATIONS]


@router.get("/destinations", tags=["catalogue"], responses={401: REFUSALS[401]},
            summary="Destination demand: each region's shortage occupations")
async def get_destinations(_: Acting) -> list[dict[str, Any]]:
    return [{"province": d.province, "city": d.city, "shortage_occupations": sorted(codes)}
            for d, codes in SEED_DEMAND.items()]


@router.post("/institutions", status_code=status.HTTP_204_NO_CONTENT, tags=["institutions"],
             responses=REFUSALS, summary="Accredit an institution (HR bureau)")
async def post_institution(body: AccreditInstitution, request: Request, ctx: Context,
                           org: Acting) -> None:
    await handlers.accredit(ctx, body, org, acting_metadata(request, org))


@router.post("/institutions/{institution_id}/suspension", status_code=204,
             tags=["institutions"], responses=REFUSALS, summary="Suspend an institution (HR)")
async def post_suspension(institution_id: str, body: Reason, request: Request, ctx: Context,
                          org: Acting) -> None:
    cmd = SuspendInstitution(institution_id=institution_id, reason=body.reason)
    await handlers.suspend(ctx, cmd, org, acting_metadata(request, org))


@router.post("/institutions/{institution_id}/reinstatement", status_code=204,
             tags=["institutions"], responses=REFUSALS, summary="Reinstate an institution (HR)")
async def post_reinstatement(institution_id: str, request: Request, ctx: Context,
                             org: Acting) -> None:
    cmd = ReinstateInstitution(institution_id=institution_id)
    await handlers.reinstate(ctx, cmd, org, acting_metadata(request, org))


@router.post("/classes", status_code=status.HTTP_204_NO_CONTENT, tags=["classes"],
             responses=REFUSALS, summary="Schedule a class run (its institution)")
async def post_class(body: ScheduleClass, request: Request, ctx: Context, org: Acting) -> None:
    await handlers.schedule(ctx, body, org, acting_metadata(request, org))


@router.post("/classes/{class_id}/approval", status_code=204, tags=["classes"],
             responses=REFUSALS, summary="Approve a class, opening enrolment (HR bureau)")
async def post_approval(class_id: str, request: Request, ctx: Context, org: Acting) -> None:
    await handlers.approve(ctx, ApproveClass(class_id=class_id), org,
                           acting_metadata(request, org))


@router.post("/classes/{class_id}/attendance", status_code=201, tags=["attendance"],
             response_model=AttendanceCreated, responses=REFUSALS,
             summary="Record a trainee's attendance at a session (its institution)")
async def post_attendance(class_id: str, body: Attendance, request: Request, ctx: Context,
                          org: Acting) -> AttendanceCreated:
    cmd = RecordAttendance(class_id=class_id, **body.model_dump())
    attendance_id = await handlers.record_attendance(ctx, cmd, org,
                                                     acting_metadata(request, org))
    return AttendanceCreated(attendance_id=attendance_id)


@router.post("/classes/{class_id}/attendance/{attendance_id}/void", status_code=204,
             tags=["attendance"], responses=REFUSALS,
             summary="Void an attendance record (a correction; nothing is deleted)")
async def post_void(class_id: str, attendance_id: str, body: Reason, request: Request,
                    ctx: Context, org: Acting) -> None:
    cmd = VoidAttendance(class_id=class_id, attendance_id=attendance_id, reason=body.reason)
    await handlers.void_attendance(ctx, cmd, org, acting_metadata(request, org))


@router.post("/classes/{class_id}/completion", tags=["classes"], response_model=ClassCompleted,
             responses=REFUSALS, summary="Complete a class: every trainee's attendance outcome")
async def post_completion(class_id: str, request: Request, ctx: Context,
                          org: Acting) -> ClassCompleted:
    return await handlers.complete(ctx, CompleteClass(class_id=class_id), org,
                                   acting_metadata(request, org))


@router.get("/classes/{class_id}/sheet", tags=["queries"], responses=REFUSALS,
            summary="Class roster and attendance sheet (its institution, HR, auditors)")
async def get_sheet(class_id: str, ctx: Context, org: Acting) -> dict[str, Any]:
    async with ctx.pool.acquire() as conn:
        owner = await conn.fetchval("SELECT institution_id FROM class_runs WHERE class_id = $1",
                                    class_id)
        if owner is None:
            require(org, Action.VIEW_ROSTER, Target(institution_id=org.institution_id))
            raise NotFound("class_unknown", "No class is scheduled with this id.",
                           class_id=class_id)
        require(org, Action.VIEW_ROSTER, Target(institution_id=owner))
        return {"class_id": class_id, **await projections.class_sheet(conn, class_id)}
