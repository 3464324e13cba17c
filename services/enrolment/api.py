"""Enrolment's HTTP API. Every command needs an organisation's bearer token, and runs through
the kit's command pipeline (services/enrolment/commands.py).

Every command accepts an ``Idempotency-Key`` (shared/runtime/idempotency.py). Recording an
intake survey and enrolling need one to be retried safely: a survey gets a new id each time,
so a retried survey would be recorded twice; a retried enrolment is refused
(``already_enrolled``) without the enrolment id the station needs later. Registering a worker
does not: the national ID number makes it idempotent, and a repeat by a station at the
worker's site is refused with the existing ``worker_id`` (another station is told only that
the number is registered); nor does a withdrawal, which names its enrolment.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.enrolment import identities, journeys, projections, statistics
from services.enrolment.domain.commands import Enrol, RecordIntakeSurvey, RegisterWorker, Withdraw
from services.enrolment.domain.national_id import InvalidNationalId, parse_national_id
from services.enrolment.vault import vault_for
from shared.auth.http import REFUSALS, Acting
from shared.auth.policy import PERMISSIONS, Action, Target, authorise, require, require_role
from shared.contracts.bounds import MAX_CHOICES
from shared.contracts.common import ClassMode, OccupationCode, WageBand, WorkSite
from shared.runtime.commands import execute
from shared.runtime.errors import NotFound
from shared.runtime.idempotency import Idempotent
from shared.runtime.paging import Page, answer_page
from shared.runtime.params import PathId
from shared.runtime.service import Context

router = APIRouter()


class WorkerRegisteredResponse(BaseModel):
    worker_id: str


class IntakeSurvey(BaseModel):
    desired_occupations: list[OccupationCode] = Field(min_length=1, max_length=10)
    availability: list[ClassMode] = Field(min_length=1, max_length=MAX_CHOICES)
    earliest_start: date
    current_wage_band: WageBand | None = Field(
        None, description="The worker's monthly wage now, as a band (yuan); optional")


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
                      org: Acting, once: Idempotent) -> Response:
    return await execute(ctx, body, request, org, once)


@router.post("/workers/{worker_id}/intake-surveys", status_code=status.HTTP_201_CREATED,
             tags=["workers"], response_model=SurveyRecorded, responses=REFUSALS,
             summary="Record what a worker wants to learn and when they can attend")
async def post_survey(worker_id: PathId, body: IntakeSurvey, request: Request, ctx: Context,
                      org: Acting, once: Idempotent) -> Response:
    command = RecordIntakeSurvey(worker_id=worker_id, **body.model_dump())
    return await execute(ctx, command, request, org, once)


@router.post("/enrolments", status_code=status.HTTP_201_CREATED, tags=["enrolments"],
             response_model=EnrolmentCreated, responses=REFUSALS,
             summary="Enrol a worker in an approved, open class with places left")
async def post_enrolment(body: Enrol, request: Request, ctx: Context,
                         org: Acting, once: Idempotent) -> Response:
    return await execute(ctx, body, request, org, once)


@router.post("/enrolments/{enrolment_id}/withdrawal", status_code=status.HTTP_204_NO_CONTENT,
             tags=["enrolments"], responses=REFUSALS,
             summary="Withdraw an enrolment, with a reason")
async def post_withdrawal(enrolment_id: PathId, body: Withdrawal, request: Request, ctx: Context,
                          org: Acting, once: Idempotent) -> Response:
    command = Withdraw(enrolment_id=enrolment_id, reason=body.reason)
    return await execute(ctx, command, request, org, once)


class WorkerLookup(BaseModel):
    # Neither a validation error nor a log may carry the number.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True,
                              hide_input_in_errors=True)

    national_id: str = Field(repr=False, max_length=32,
                             description="18-digit resident identity number")

    @field_validator("national_id")
    @classmethod
    def _valid_national_id(cls, value: str) -> str:
        try:
            return parse_national_id(value).number
        except InvalidNationalId as exc:
            raise ValueError(f"not a valid national ID number: {exc}") from None


class WorkerFound(BaseModel):
    worker_id: str


@router.post("/workers/lookup", tags=["workers"], response_model=WorkerFound,
             responses=REFUSALS,
             summary="Find a worker by their ID number, exactly (an organisation that may read "
                     "the worker's record: their station, the HR bureau)",
             description="The number is matched through the keyed lookup index, never a search "
                         "of names; it is sent in the body so that it is in no URL or access "
                         "log. A number not registered, and a worker the organisation may not "
                         "see, are the same 404: nothing is learnt of other stations' workers.")
async def lookup_worker(body: WorkerLookup, ctx: Context, org: Acting) -> WorkerFound:
    index = vault_for(ctx.settings).lookup_index(body.national_id)
    async with ctx.pool.acquire() as conn:
        worker_id = await identities.registered_under(conn, index)
        site = await projections.site_of(conn, worker_id) if worker_id else None
    if worker_id is None or site is None or not authorise(
            org, Action.VIEW_WORKER_RECORD, Target(site=site)).allowed:
        raise NotFound("worker_unknown", "No worker you may see is registered under this "
                                         "ID number.")
    return WorkerFound(worker_id=worker_id)


@router.get("/workers/{worker_id}/training-record", tags=["queries"], responses=REFUSALS,
            summary="A worker's surveys, enrolments and certificates (their station, HR)")
async def get_training_record(worker_id: PathId, ctx: Context, org: Acting) -> dict[str, Any]:
    async with ctx.pool.acquire() as conn:
        site = await projections.worker_site(conn, worker_id)
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
    require(org, Action.VIEW_CONTACT)
    async with ctx.pool.acquire() as conn:
        sealed = await identities.sealed_of(conn, worker_id)
    if sealed is None:
        raise NotFound("unknown_worker", f"No worker {worker_id}.")
    record = vault_for(ctx.settings).open(sealed)
    return WorkerContact(worker_id=worker_id, name=record["name"], mobile=record["mobile"],
                         preferred_language=record.get("preferred_language", "zh-CN"),
                         contact_window=record.get("contact_window"))


@router.get("/statistics/enrolments", tags=["queries"], responses=REFUSALS,
            summary="Live enrolments counted by site, occupation, gender and level (paged)")
async def get_enrolment_counts(ctx: Context, org: Acting, page: Page, request: Request,
                               response: Response) -> list[dict[str, Any]]:
    require(org, Action.VIEW_STATISTICS)
    async with ctx.pool.acquire() as conn:
        groups = await statistics.enrolment_counts(
            conn, page.after_as(str, str, str, str, str, int), page.fetch_size())
    return [statistics.shown(g) for g in answer_page(
        groups, lambda g: tuple(g[k] for k in statistics.GROUP), page, request, response)]


@router.get("/journeys", tags=["queries"], responses=REFUSALS,
            summary="The journeys of the workers whose records the organisation may read "
                    "(a station: its own sites' workers; the HR bureau: every worker), paged",
            description="One item per worker: where they are on the way registered → surveyed "
                        "→ enrolled → trained → certified → paid, their newest live "
                        "enrolment's class, its first day, their attendance (live, final once "
                        "the class completed) and the dates each stage was reached. Ordered by "
                        "site then worker id. Ids and dates only: no name or ID number. "
                        "``stage`` keeps one stage (a station's task queue: ``registered`` "
                        "without a survey, ``surveyed`` not enrolled); ``starts_from`` and "
                        "``starts_by`` keep the journeys whose class starts in those days "
                        "(with ``stage=enrolled``: classes starting soon).")
async def get_journeys(
    ctx: Context, org: Acting, page: Page, request: Request, response: Response,
    stage: Annotated[journeys.Stage | None, Query(
        max_length=max(map(len, journeys.STAGES)), description="Only this stage")] = None,
    starts_from: Annotated[date | None, Query(
        description="Only journeys whose class starts on or after this day")] = None,
    starts_by: Annotated[date | None, Query(
        description="Only journeys whose class starts on or before this day")] = None,
) -> list[dict[str, Any]]:
    require_role(org, Action.VIEW_WORKER_RECORD)
    # An organisation allowed anywhere reads every worker; a station, the sites it covers.
    anywhere = org.role in PERMISSIONS[Action.VIEW_WORKER_RECORD].anywhere
    async with ctx.pool.acquire() as conn:
        rows = await journeys.journeys_page(
            conn, None if anywhere else org.sites, page.after_as(str, str, str, str),
            page.fetch_size(), stage=stage, starts_from=starts_from,
            starts_by=starts_by)
    items = answer_page(rows, journeys.key_of, page, request, response)
    # The query's ranges are the scopes' sites; the policy has the last word on each worker.
    return [journeys.shown(row) for row in items if authorise(
        org, Action.VIEW_WORKER_RECORD, Target(site=_site(row))).allowed]


def _site(row: dict[str, Any]) -> WorkSite | None:
    if row["province"] == journeys.NO_SITE:
        return None
    return WorkSite(province=row["province"], city=row["city"], site_name=row["site_name"])
