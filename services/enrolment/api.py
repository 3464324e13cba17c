"""Enrolment's HTTP API. Every command needs an organisation's bearer token.

Recording an intake survey and enrolling accept an ``Idempotency-Key``
(shared/runtime/idempotency.py): a survey gets a new id each time, so a retried survey would
be recorded twice; a retried enrolment is refused (``already_enrolled``) without the
enrolment id the station needs later. Registering a worker does not need one: the national ID
number makes it idempotent, and a repeat by a station at the worker's site is refused with the
existing ``worker_id`` (another station is told only that the number is registered); nor does
a withdrawal, which names its enrolment.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from services.enrolment import handlers, projections
from services.enrolment.domain.commands import Enrol, RecordIntakeSurvey, RegisterWorker
from shared.auth.http import REFUSALS, Acting, acting_metadata
from shared.auth.policy import Action, Target, require
from shared.contracts.bounds import MAX_CHOICES
from shared.contracts.common import ClassMode, OccupationCode
from shared.runtime.idempotency import Idempotent, answer
from shared.runtime.paging import Page, one_page
from shared.runtime.params import PathId
from shared.runtime.service import Context

router = APIRouter()



class WorkerRegisteredResponse(BaseModel):
    worker_id: str


class IntakeSurvey(BaseModel):
    desired_occupations: list[OccupationCode] = Field(min_length=1, max_length=10)
    availability: list[ClassMode] = Field(min_length=1, max_length=MAX_CHOICES)
    earliest_start: date


class SurveyRecorded(BaseModel):
    survey_id: str


class EnrolmentCreated(BaseModel):
    enrolment_id: str


class Withdrawal(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


@router.post("/workers", status_code=status.HTTP_201_CREATED, tags=["workers"],
             response_model=WorkerRegisteredResponse,
             summary="Register a worker under their real name (liaison station, own sites)",
             responses={**REFUSALS,
                        409: {"description": "Already registered; the body names the "
                                             "worker_id when the station may see that worker"}})
async def post_worker(body: RegisterWorker, request: Request, ctx: Context,
                      org: Acting) -> WorkerRegisteredResponse:
    worker_id = await handlers.register_worker(ctx, body, org, acting_metadata(request, org))
    return WorkerRegisteredResponse(worker_id=worker_id)


@router.post("/workers/{worker_id}/intake-surveys", status_code=status.HTTP_201_CREATED,
             tags=["workers"], response_model=SurveyRecorded, responses=REFUSALS,
             summary="Record what a worker wants to learn and when they can attend")
async def post_survey(worker_id: PathId, body: IntakeSurvey, request: Request, ctx: Context,
                      org: Acting, once: Idempotent) -> Response:
    command = RecordIntakeSurvey(worker_id=worker_id, **body.model_dump())
    metadata = acting_metadata(request, org)

    async def record(conn) -> Response:
        survey_id = await handlers.record_intake_survey(ctx, command, org, metadata, conn)
        return answer(201, SurveyRecorded(survey_id=survey_id))

    return await once.run(ctx.pool, org.org_id, record)


@router.post("/enrolments", status_code=status.HTTP_201_CREATED, tags=["enrolments"],
             response_model=EnrolmentCreated, responses=REFUSALS,
             summary="Enrol a worker in an approved, open class with places left")
async def post_enrolment(body: Enrol, request: Request, ctx: Context,
                         org: Acting, once: Idempotent) -> Response:
    metadata = acting_metadata(request, org)

    async def enrol(conn) -> Response:
        enrolment_id = await handlers.enrol(ctx, body, org, metadata, conn)
        return answer(201, EnrolmentCreated(enrolment_id=enrolment_id))

    return await once.run(ctx.pool, org.org_id, enrol)


@router.post("/enrolments/{enrolment_id}/withdrawal", status_code=status.HTTP_204_NO_CONTENT,
             tags=["enrolments"], responses=REFUSALS,
             summary="Withdraw an enrolment, with a reason")
async def post_withdrawal(enrolment_id: PathId, body: Withdrawal, request: Request, ctx: Context,
                          org: Acting) -> None:
    await handlers.withdraw(ctx, enrolment_id, body.reason, org, acting_metadata(request, org))


@router.get("/workers/{worker_id}/training-record", tags=["queries"], responses=REFUSALS,
            summary="A worker's surveys, enrolments and certificates (their station, HR)")
async def get_training_record(worker_id: PathId, ctx: Context, org: Acting) -> dict[str, Any]:
    async with ctx.pool.acquire() as conn:
        site = await handlers.worker_site(conn, worker_id)
        require(org, Action.VIEW_WORKER_RECORD, Target(site=site))
        return {"worker_id": worker_id, **await projections.training_record(conn, worker_id)}


class WorkerContact(BaseModel):
    worker_id: str
    name: str
    mobile: str
    preferred_language: str
    contact_window: str | None


@router.get("/workers/{worker_id}/contact", tags=["workers"], response_model=WorkerContact,
            responses=REFUSALS,
            summary="How to reach a worker (the notifications service only, at send time)")
async def get_contact(worker_id: PathId, ctx: Context, org: Acting) -> WorkerContact:
    return WorkerContact(**await handlers.worker_contact(ctx, worker_id, org))


@router.get("/statistics/enrolments", tags=["queries"], responses=REFUSALS,
            summary="Live enrolments counted by site, occupation, gender and level (paged)")
async def get_enrolment_counts(ctx: Context, org: Acting, page: Page, request: Request,
                               response: Response) -> list[dict[str, Any]]:
    require(org, Action.VIEW_STATISTICS)
    async with ctx.pool.acquire() as conn:
        counts = await projections.enrolment_counts(conn)
    return one_page(counts, lambda c: tuple(c[k] for k in (
        "province", "city", "site_name", "occupation_code", "gender", "level")),
        page, request, response)
