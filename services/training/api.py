"""Training's HTTP API. Every command needs an organisation's bearer token."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, get_args

import asyncpg
from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, Field, field_validator

from services.training import projections, statistics
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
from shared.contracts.bounds import MAX_CLASS_SIZE, Id
from shared.contracts.common import CheckInMethod, ClassMode, WorkSite
from shared.contracts.training import ClassCompleted
from shared.runtime.commands import Outcome, execute, run_each
from shared.runtime.errors import DomainError, NotFound
from shared.runtime.idempotency import Idempotent, answer
from shared.runtime.paging import Page, answer_page, iso, one_page
from shared.runtime.params import PathId, QueryId
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


class CheckIn(BaseModel):
    worker_id: Id
    minutes: int = Field(ge=0, description="Whole minutes attended")
    method: CheckInMethod


class SessionRegister(BaseModel):
    check_ins: list[CheckIn] = Field(min_length=1, max_length=MAX_CLASS_SIZE)

    @field_validator("check_ins")
    @classmethod
    def _each_trainee_once(cls, check_ins: list[CheckIn]) -> list[CheckIn]:
        seen: set[str] = set()
        for line in check_ins:
            if line.worker_id in seen:
                raise ValueError("a trainee appears more than once in the register")
            seen.add(line.worker_id)
        return check_ins


class RegisterLine(BaseModel):
    worker_id: str
    outcome: Literal["recorded", "already_recorded", "refused"]
    attendance_id: str | None = None
    code: str | None = None
    message: str | None = None


class SessionRegisterAnswer(BaseModel):
    lines: list[RegisterLine]


# Refusals about one trainee, which refuse that line of a register and not the others.
TRAINEE_REFUSALS = frozenset({"worker_not_enrolled", "minutes_exceed_session",
                              "attendance_already_recorded", "too_many_attendance_records"})


def register_line(worker_id: str, outcome: Outcome[Any] | DomainError) -> RegisterLine:
    if not isinstance(outcome, DomainError):
        return RegisterLine(worker_id=worker_id, outcome="recorded",
                            attendance_id=outcome.body["attendance_id"])
    if outcome.code == "attendance_already_recorded":
        return RegisterLine(worker_id=worker_id, outcome="already_recorded",
                            attendance_id=str(outcome.details["attendance_id"]))
    return RegisterLine(worker_id=worker_id, outcome="refused", code=outcome.code,
                        message=outcome.message)


# The catalogue routes page lists held in code (shared/runtime/paging.py's ``one_page``): bounded
# reference data, not a table, so paging them in memory costs the same at any scale.
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
                           org: Acting, once: Idempotent) -> Response:
    return await execute(ctx, body, request, org, once)


@router.post("/institutions/{institution_id}/suspension", status_code=204,
             tags=["institutions"], responses=REFUSALS, summary="Suspend an institution (HR)")
async def post_suspension(institution_id: PathId, body: Reason, request: Request, ctx: Context,
                          org: Acting, once: Idempotent) -> Response:
    cmd = SuspendInstitution(institution_id=institution_id, reason=body.reason)
    return await execute(ctx, cmd, request, org, once)


@router.post("/institutions/{institution_id}/reinstatement", status_code=204,
             tags=["institutions"], responses=REFUSALS, summary="Reinstate an institution (HR)")
async def post_reinstatement(institution_id: PathId, request: Request, ctx: Context,
                             org: Acting, once: Idempotent) -> Response:
    cmd = ReinstateInstitution(institution_id=institution_id)
    return await execute(ctx, cmd, request, org, once)


@router.post("/classes", status_code=status.HTTP_204_NO_CONTENT, tags=["classes"],
             responses=REFUSALS, summary="Schedule a class run (its institution)")
async def post_class(body: ScheduleClass, request: Request, ctx: Context, org: Acting,
                     once: Idempotent) -> Response:
    return await execute(ctx, body, request, org, once)


@router.post("/classes/{class_id}/approval", status_code=204, tags=["classes"],
             responses=REFUSALS, summary="Approve a class, opening enrolment (HR bureau)")
async def post_approval(class_id: PathId, request: Request, ctx: Context, org: Acting,
                        once: Idempotent) -> Response:
    return await execute(ctx, ApproveClass(class_id=class_id), request, org, once)


@router.post("/classes/{class_id}/attendance", status_code=201, tags=["attendance"],
             response_model=AttendanceCreated, responses=REFUSALS,
             summary="Record a trainee's attendance at a session (its institution)")
async def post_attendance(class_id: PathId, body: Attendance, request: Request, ctx: Context,
                          org: Acting, once: Idempotent) -> Response:
    cmd = RecordAttendance(class_id=class_id, **body.model_dump())
    return await execute(ctx, cmd, request, org, once)


@router.post("/classes/{class_id}/sessions/{session_id}/attendance", tags=["attendance"],
             response_model=SessionRegisterAnswer, responses=REFUSALS,
             summary="Record a session's register in one request: every check-in a face-check "
                     "terminal or the platform's session log holds (its institution)",
             description="The check-ins are decided together and recorded in one transaction: "
                         "each line is answered `recorded` (with its attendance id), "
                         "`already_recorded` (with the existing record's id) or `refused` "
                         "(with the reason's code and sentence: not enrolled, more minutes "
                         "than the session, too many records). A refusal about the class or "
                         "the session itself (unknown, not approved, completed, not held yet) "
                         "refuses the whole register and records nothing. Send an "
                         "Idempotency-Key to upload a register again safely.")
async def post_session_register(class_id: PathId, session_id: PathId, body: SessionRegister,
                                request: Request, ctx: Context, org: Acting,
                                once: Idempotent) -> Response:
    commands = [RecordAttendance(class_id=class_id, session_id=session_id,
                                 worker_id=line.worker_id, minutes=line.minutes,
                                 method=line.method) for line in body.check_ins]
    metadata = acting_metadata(request, org)

    async def record(conn: asyncpg.Connection | None) -> Response:
        outcomes = await run_each(ctx, commands, org, metadata, conn,
                                  refusable=lambda e: e.code in TRAINEE_REFUSALS)
        return answer(200, SessionRegisterAnswer(lines=[
            register_line(cmd.worker_id, outcome)
            for cmd, outcome in zip(commands, outcomes, strict=True)]))

    return await once.run(ctx.pool, org.org_id, record)


@router.post("/classes/{class_id}/attendance/{attendance_id}/void", status_code=204,
             tags=["attendance"], responses=REFUSALS,
             summary="Void an attendance record (a correction; nothing is deleted)")
async def post_void(class_id: PathId, attendance_id: PathId, body: Reason, request: Request,
                    ctx: Context, org: Acting, once: Idempotent) -> Response:
    cmd = VoidAttendance(class_id=class_id, attendance_id=attendance_id, reason=body.reason)
    return await execute(ctx, cmd, request, org, once)


@router.post("/classes/{class_id}/completion", tags=["classes"], response_model=ClassCompleted,
             responses=REFUSALS, summary="Complete a class: every trainee's attendance outcome")
async def post_completion(class_id: PathId, request: Request, ctx: Context,
                          org: Acting, once: Idempotent) -> Response:
    return await execute(ctx, CompleteClass(class_id=class_id), request, org, once)


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


ClassState = Literal["awaiting_approval", "approved", "completed"]  # class_runs.state
STATE_LENGTH = max(len(state) for state in get_args(ClassState))


class ClassItem(BaseModel):
    """A class run as the list shows it: its schedule, state and how many are enrolled. No
    trainee is named (the roster is the sheet's, ``GET /classes/{id}/sheet``)."""

    class_id: str
    institution_id: str
    occupation_code: str
    target_level: int
    site: WorkSite = Field(description="Where it is taught: the trainees' destination")
    mode: ClassMode
    capacity: int
    enrolled: int = Field(description="Trainees on the roster now (withdrawals taken out)")
    state: ClassState = Field(description="awaiting_approval (scheduled, not yet approved by "
                                          "the HR bureau), approved (enrolment open, being "
                                          "taught) or completed")
    first_session_date: date
    last_session_date: date
    approved_on: date | None
    completed_on: date | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> ClassItem:
        site = WorkSite(province=row["province"], city=row["city"], site_name=row["site_name"])
        return cls(site=site, **{k: v for k, v in row.items()
                                 if k not in ("province", "city", "site_name")})


@router.get("/classes", tags=["queries"], response_model=list[ClassItem], responses=REFUSALS,
            summary="Class runs, by class id (paged): an institution's own, or every "
                    "institution's for the HR bureau and auditors; filtered by institution "
                    "and state")
async def get_classes(ctx: Context, org: Acting, page: Page, request: Request,
                      response: Response, institution_id: QueryId = None,
                      state: Annotated[ClassState | None,
                                       Query(max_length=STATE_LENGTH)] = None
                      ) -> list[ClassItem]:
    # An institution lists its own: without a filter its own are meant, and another's id is
    # refused (403 out_of_scope) by the same rule as that institution's roster.
    if org.role == "training_institution" and institution_id is None:
        institution_id = org.institution_id
    require(org, Action.VIEW_CLASSES, Target(institution_id=institution_id))
    (after,) = page.after_as(str)
    async with ctx.pool.acquire() as conn:
        rows = await projections.class_list(conn, institution_id=institution_id, state=state,
                                            after=after, limit=page.fetch_size())
    return [ClassItem.of(r) for r in answer_page(rows, lambda r: (r["class_id"],), page,
                                                 request, response)]


@router.get("/statistics/classes", tags=["queries"], responses=REFUSALS,
            summary="Classes, their enrolled trainees and those who met the attendance "
                    "threshold, counted by destination, occupation, level and state (paged)")
async def get_class_counts(ctx: Context, org: Acting, page: Page, request: Request,
                           response: Response) -> list[dict[str, Any]]:
    require(org, Action.VIEW_STATISTICS)
    async with ctx.pool.acquire() as conn:
        groups = await statistics.class_counts(
            conn, page.after_as(str, str, str, int, str), page.fetch_size())
    return answer_page(groups, lambda g: tuple(g[k] for k in statistics.GROUP), page, request,
                       response)
