"""Training's HTTP API. Every command needs an organisation's bearer token."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request, Response, status
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
from shared.runtime.paging import Page, answer_page, iso, one_page
from shared.runtime.params import PathId
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


@router.get("/occupations", tags=["catalogue"], summary="The occupation catalogue (paged)",
            responses={401: REFUSALS[401]})
async def get_occupations(_: Acting, page: Page, request: Request,
                          response: Response) -> list[dict[str, Any]]:
    return [{"code": o.code, "name_zh": o.name_zh, "name_en": o.name_en,
             "levels": sorted(o.levels)}
            for o in one_page(SEED_OCCUPATIONS, lambda o: (o.code,), page, request, response)]


@router.get("/destinations", tags=["catalogue"], responses={401: REFUSALS[401]},
            summary="Destination demand: each region's shortage occupations (paged)")
async def get_destinations(_: Acting, page: Page, request: Request,
                           response: Response) -> list[dict[str, Any]]:
    regions = one_page(list(SEED_DEMAND.items()), lambda item: (item[0].province, item[0].city),
                       page, request, response)
    return [{"province": d.province, "city": d.city, "shortage_occupations": sorted(codes)}
            for d, codes in regions]


@router.post("/institutions", status_code=status.HTTP_204_NO_CONTENT, tags=["institutions"],
             responses=REFUSALS, summary="Accredit an institution (HR bureau)")
async def post_institution(body: AccreditInstitution, request: Request, ctx: Context,
                           org: Acting) -> None:
    await handlers.accredit(ctx, body, org, acting_metadata(request, org))


@router.post("/institutions/{institution_id}/suspension", status_code=204,
             tags=["institutions"], responses=REFUSALS, summary="Suspend an institution (HR)")
async def post_suspension(institution_id: PathId, body: Reason, request: Request, ctx: Context,
                          org: Acting) -> None:
    cmd = SuspendInstitution(institution_id=institution_id, reason=body.reason)
    await handlers.suspend(ctx, cmd, org, acting_metadata(request, org))


@router.post("/institutions/{institution_id}/reinstatement", status_code=204,
             tags=["institutions"], responses=REFUSALS, summary="Reinstate an institution (HR)")
async def post_reinstatement(institution_id: PathId, request: Request, ctx: Context,
                             org: Acting) -> None:
    cmd = ReinstateInstitution(institution_id=institution_id)
    await handlers.reinstate(ctx, cmd, org, acting_metadata(request, org))


@router.post("/classes", status_code=status.HTTP_204_NO_CONTENT, tags=["classes"],
             responses=REFUSALS, summary="Schedule a class run (its institution)")
async def post_class(body: ScheduleClass, request: Request, ctx: Context, org: Acting) -> None:
    await handlers.schedule(ctx, body, org, acting_metadata(request, org))


@router.post("/classes/{class_id}/approval", status_code=204, tags=["classes"],
             responses=REFUSALS, summary="Approve a class, opening enrolment (HR bureau)")
async def post_approval(class_id: PathId, request: Request, ctx: Context, org: Acting) -> None:
    await handlers.approve(ctx, ApproveClass(class_id=class_id), org,
                           acting_metadata(request, org))


@router.post("/classes/{class_id}/attendance", status_code=201, tags=["attendance"],
             response_model=AttendanceCreated, responses=REFUSALS,
             summary="Record a trainee's attendance at a session (its institution)")
async def post_attendance(class_id: PathId, body: Attendance, request: Request, ctx: Context,
                          org: Acting) -> AttendanceCreated:
    cmd = RecordAttendance(class_id=class_id, **body.model_dump())
    attendance_id = await handlers.record_attendance(ctx, cmd, org,
                                                     acting_metadata(request, org))
    return AttendanceCreated(attendance_id=attendance_id)


@router.post("/classes/{class_id}/attendance/{attendance_id}/void", status_code=204,
             tags=["attendance"], responses=REFUSALS,
             summary="Void an attendance record (a correction; nothing is deleted)")
async def post_void(class_id: PathId, attendance_id: PathId, body: Reason, request: Request,
                    ctx: Context, org: Acting) -> None:
    cmd = VoidAttendance(class_id=class_id, attendance_id=attendance_id, reason=body.reason)
    await handlers.void_attendance(ctx, cmd, org, acting_metadata(request, org))


@router.post("/classes/{class_id}/completion", tags=["classes"], response_model=ClassCompleted,
             responses=REFUSALS, summary="Complete a class: every trainee's attendance outcome")
async def post_completion(class_id: PathId, request: Request, ctx: Context,
                          org: Acting) -> ClassCompleted:
    return await handlers.complete(ctx, CompleteClass(class_id=class_id), org,
                                   acting_metadata(request, org))


@router.get("/classes/{class_id}/sheet", tags=["queries"], responses=REFUSALS,
            summary="Class roster and attendance sheet (its institution, HR, auditors); the "
                    "attendance is paged, by session date, session, worker and record, and "
                    "the roster (at most a class's size) comes with the first page")
async def get_sheet(class_id: PathId, ctx: Context, org: Acting, page: Page, request: Request,
                    response: Response) -> dict[str, Any]:
    async with ctx.pool.acquire() as conn:
        owner = await conn.fetchval("SELECT institution_id FROM class_runs WHERE class_id = $1",
                                    class_id)
        if owner is None:
            require(org, Action.VIEW_ROSTER, Target(institution_id=org.institution_id))
            raise NotFound("class_unknown", "No class is scheduled with this id.",
                           class_id=class_id)
        require(org, Action.VIEW_ROSTER, Target(institution_id=owner))
        trainees, attendance = await projections.class_sheet(
            conn, class_id, page.after_as(date.fromisoformat, str, str, str), page.fetch_size())
    shown = answer_page(attendance, lambda r: (
        iso(r["session_date"]), r["session_id"], r["worker_id"], r["attendance_id"]),
        page, request, response)
    return {"class_id": class_id, "trainees": trainees if page.after is None else [],
            "attendance": shown}
