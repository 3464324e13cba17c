"""Employment's HTTP API. Every command needs an organisation's bearer token, runs through the
kit's command pipeline (services/employment/commands.py) and accepts an ``Idempotency-Key``.
Lists come a page at a time (shared/runtime/paging.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, model_validator

from services.employment import matches, projections, statistics
from services.employment.commands import GuidanceRequested, ReferralCreated
from services.employment.domain.guidance import GiveBusinessGuidance, RequestBusinessGuidance
from services.employment.domain.order import (
    CancelTrainingOrder,
    PlaceTrainingOrder,
    PlanTrainingOrder,
)
from services.employment.domain.vacancy import (
    EARLIEST_START,
    LATEST_START,
    CloseVacancy,
    PostVacancy,
    RecordEmployerAnswer,
    RecordFollowUp,
    ReferWorker,
)
from services.employment.settings import EmploymentContext
from shared.auth.http import REFUSALS, Acting
from shared.auth.policy import Action, Target, require, require_role
from shared.contracts.bounds import Id, Name, Text
from shared.contracts.common import WorkSite
from shared.contracts.employment import (
    MAX_MONTHLY_WAGE_FEN,
    BusinessKind,
    ConsentMethod,
    FollowUpMonth,
    GuidanceNeed,
)
from shared.runtime.commands import execute
from shared.runtime.errors import DomainError, NotFound
from shared.runtime.idempotency import Idempotent
from shared.runtime.paging import Page, answer_page, iso
from shared.runtime.params import PathId

router = APIRouter()


class Closure(BaseModel):
    reason: Text = Field(min_length=1)


class Referral(BaseModel):
    worker_id: Id
    consent_method: ConsentMethod = Field(description="How the worker agreed to be referred")
    consented_on: date


class EmployerAnswer(BaseModel):
    outcome: Literal["hired", "declined"]
    monthly_wage_fen: int | None = Field(None, ge=0, le=MAX_MONTHLY_WAGE_FEN)
    starts_on: date | None = Field(None, ge=EARLIEST_START, le=LATEST_START,
                                   description="The first day of work")
    reason: Text | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _complete(self) -> EmployerAnswer:
        if self.outcome == "hired" and (self.monthly_wage_fen is None or self.starts_on is None):
            raise ValueError("a hire needs monthly_wage_fen and starts_on")
        if self.outcome == "declined" and self.reason is None:
            raise ValueError("a decline needs its reason")
        return self


class FollowUp(BaseModel):
    month: FollowUpMonth
    still_employed: bool
    monthly_wage_fen: int | None = Field(None, ge=0, le=MAX_MONTHLY_WAGE_FEN)

    @model_validator(mode="after")
    def _wage_only_when_employed(self) -> FollowUp:
        if not self.still_employed and self.monthly_wage_fen is not None:
            raise ValueError("a wage is recorded only while still employed")
        return self


# -- commands -----------------------------------------------------------------------------------

@router.post("/vacancies", status_code=204, tags=["vacancies"], responses=REFUSALS,
             summary="Post a vacancy near a site (its station, or the HR bureau)")
async def post_vacancy(body: PostVacancy, request: Request, ctx: EmploymentContext,
                       org: Acting, once: Idempotent) -> Response:
    return await execute(ctx, body, request, org, once)


@router.post("/vacancies/{vacancy_id}/closure", status_code=204, tags=["vacancies"],
             responses=REFUSALS, summary="Close a vacancy to referrals, with the reason")
async def post_closure(vacancy_id: PathId, body: Closure, request: Request,
                       ctx: EmploymentContext, org: Acting, once: Idempotent) -> Response:
    command = CloseVacancy(vacancy_id=vacancy_id, reason=body.reason)
    return await execute(ctx, command, request, org, once)


@router.post("/vacancies/{vacancy_id}/referrals", status_code=201, tags=["referrals"],
             response_model=ReferralCreated, responses=REFUSALS,
             summary="Refer a certified worker who consented (the vacancy's station)")
async def post_referral(vacancy_id: PathId, body: Referral, request: Request,
                        ctx: EmploymentContext, org: Acting, once: Idempotent) -> Response:
    command = ReferWorker(vacancy_id=vacancy_id, **body.model_dump())
    return await execute(ctx, command, request, org, once)


@router.post("/vacancies/{vacancy_id}/referrals/{referral_id}/answer", status_code=204,
             tags=["referrals"], responses=REFUSALS,
             summary="Record the employer's answer: hired (wage, start) or declined (reason)")
async def post_answer(vacancy_id: PathId, referral_id: PathId, body: EmployerAnswer,
                      request: Request, ctx: EmploymentContext, org: Acting,
                      once: Idempotent) -> Response:
    command = RecordEmployerAnswer(vacancy_id=vacancy_id, referral_id=referral_id,
                                   **body.model_dump())
    return await execute(ctx, command, request, org, once)


@router.post("/vacancies/{vacancy_id}/referrals/{referral_id}/follow-ups", status_code=204,
             tags=["referrals"], responses=REFUSALS,
             summary="Record a placement's 1-, 3- or 6-month follow-up once it is due")
async def post_follow_up(vacancy_id: PathId, referral_id: PathId, body: FollowUp,
                         request: Request, ctx: EmploymentContext, org: Acting,
                         once: Idempotent) -> Response:
    command = RecordFollowUp(vacancy_id=vacancy_id, referral_id=referral_id,
                             **body.model_dump())
    return await execute(ctx, command, request, org, once)


# -- queries ------------------------------------------------------------------------------------

async def _vacancy_in_scope(ctx: EmploymentContext, org: Acting, vacancy_id: str
                            ) -> dict[str, Any]:
    """The vacancy's row, once ``org`` may see its matches (a station: its own sites)."""
    require_role(org, Action.VIEW_MATCHES)
    async with ctx.pool.acquire() as conn:
        row = await projections.vacancy(conn, vacancy_id)
    if row is None:
        raise NotFound("vacancy_unknown", "No vacancy is posted with this id.",
                       vacancy_id=vacancy_id)
    require(org, Action.VIEW_MATCHES, Target(site=WorkSite(
        province=row["province"], city=row["city"], site_name=row["site_name"])))
    return row


class MatchesBeingBuilt(DomainError):
    """The read model of matches is still being built for this vacancy (a large slice of
    candidates, or after an upgrade or a rebuild): answered again in a moment."""

    status_code = 503


def _being_built(**which: str) -> MatchesBeingBuilt:
    return MatchesBeingBuilt("matches_being_built", "The matches are still being computed; "
                             "ask again in a moment.", **which)


_CRITERION = ("name", "points", "max_points", "why")


def _match(row: dict[str, Any], id_field: str) -> dict[str, Any]:
    """A stored match as the scorer's ``Match`` reads: the id, the score, and each criterion
    with its fields in the dataclass's order (jsonb keeps them in its own)."""
    return {id_field: row[id_field], "score": row["score"],
            "criteria": [{k: c[k] for k in _CRITERION} for c in row["criteria"]]}


@router.get("/vacancies/{vacancy_id}", tags=["vacancies"], responses=REFUSALS,
            summary="A vacancy: its terms, hired count and whether it takes referrals")
async def get_vacancy(vacancy_id: PathId, ctx: EmploymentContext, org: Acting
                      ) -> dict[str, Any]:
    row = await _vacancy_in_scope(ctx, org, vacancy_id)
    return {**row, "open": projections.is_open(row, ctx.settings.today())}


@router.get("/vacancies/{vacancy_id}/matches", tags=["matching"], responses=REFUSALS,
            summary="The certified workers who fit the open vacancy, best first, each score "
                    "explained criterion by criterion (paged); none once it is closed, "
                    "filled or past its closing date")
async def get_matches(vacancy_id: PathId, ctx: EmploymentContext, org: Acting, page: Page,
                      request: Request, response: Response) -> list[dict[str, Any]]:
    row = await _vacancy_in_scope(ctx, org, vacancy_id)
    after = page.after_as(int, str)
    if not projections.is_open(row, ctx.settings.today()):
        return []  # nobody can be referred to it any more
    async with ctx.pool.acquire() as conn:
        if await matches.being_built(conn, vacancy_id):
            raise _being_built(vacancy_id=vacancy_id)
        rows = await matches.of_vacancy(conn, vacancy_id, after, page.fetch_size())
    return answer_page([_match(r, "worker_id") for r in rows],
                       lambda m: (-m["score"], m["worker_id"]), page, request, response)


@router.get("/workers/{worker_id}/vacancies", tags=["matching"], responses=REFUSALS,
            summary="The open vacancies the worker fits, best first, each score explained "
                    "(paged); none while the worker is placed")
async def get_worker_vacancies(worker_id: PathId, ctx: EmploymentContext, org: Acting,
                               page: Page, request: Request, response: Response
                               ) -> list[dict[str, Any]]:
    require_role(org, Action.VIEW_MATCHES)
    after = page.after_as(int, str)
    async with ctx.pool.acquire() as conn:
        site = await projections.worker_site(conn, worker_id)
        require(org, Action.VIEW_MATCHES, Target(site=site))
        if not await projections.knows_of(conn, worker_id):
            raise NotFound("worker_unknown", "Employment knows no worker with this id.",
                           worker_id=worker_id)
        if await matches.being_built_for(conn, worker_id):
            raise _being_built(worker_id=worker_id)
        rows = await matches.of_worker(conn, worker_id, ctx.settings.today(), after,
                                       page.fetch_size())
    return answer_page([_match(r, "vacancy_id") for r in rows],
                       lambda m: (-m["score"], m["vacancy_id"]), page, request, response)


@router.get("/vacancies/{vacancy_id}/referrals", tags=["referrals"], responses=REFUSALS,
            summary="A vacancy's referrals and their course (paged by referral id)")
async def get_referrals(vacancy_id: PathId, ctx: EmploymentContext, org: Acting, page: Page,
                        request: Request, response: Response) -> list[dict[str, Any]]:
    await _vacancy_in_scope(ctx, org, vacancy_id)
    (after,) = page.after_as(str)
    async with ctx.pool.acquire() as conn:
        rows = await projections.referrals_of(conn, vacancy_id, after, page.fetch_size())
    return answer_page(rows, lambda r: (r["referral_id"],), page, request, response)


@router.get("/follow-ups/due", tags=["referrals"], responses=REFUSALS,
            summary="Follow-ups due by today: a station's task list in its sites, the HR "
                    "bureau's everywhere (paged by due date)")
async def get_follow_ups_due(ctx: EmploymentContext, org: Acting, page: Page,
                             request: Request, response: Response) -> list[dict[str, Any]]:
    require_role(org, Action.VIEW_FOLLOW_UPS)
    scopes = org.sites if org.role == "liaison_station" else None
    after = page.after_as(date.fromisoformat, str, int)
    async with ctx.pool.acquire() as conn:
        rows = await projections.follow_ups_due(conn, ctx.settings.today(), scopes, after,
                                                page.fetch_size())
    return answer_page(rows, lambda r: (iso(r["due_on"]), r["referral_id"], r["month"]),
                       page, request, response)


@router.get("/statistics/outcomes", tags=["queries"], responses=REFUSALS,
            summary="Referred, placed, wages before and after, retention at 3 and 6 months, "
                    "by destination, occupation, level or gender; small groups suppressed")
async def get_outcomes(ctx: EmploymentContext, org: Acting, page: Page, request: Request,
                       response: Response,
                       by: Annotated[statistics.Dimension, Query()] = "destination"
                       ) -> list[dict[str, Any]]:
    require(org, Action.VIEW_STATISTICS, Target())
    (after,) = page.after_as(str)
    async with ctx.pool.acquire() as conn:
        groups = await statistics.outcomes(conn, by, ctx.settings.smallest_group, after,
                                           page.fetch_size())
    return answer_page(groups, lambda g: (g["group"],), page, request, response)


# -- 返乡创业: guidance to start a business back home -------------------------------------------

class GuidanceRequest(BaseModel):
    business_kind: BusinessKind
    needs: list[GuidanceNeed] = Field(min_length=1, max_length=6)
    hometown_county: Name | None = Field(None, description="Where the business would be")


class GuidanceAnswer(BaseModel):
    referred_to: Name = Field(description="Who takes the request on (an organisation)")


@router.post("/workers/{worker_id}/business-guidance-requests", status_code=201,
             tags=["返乡创业"], response_model=GuidanceRequested, responses=REFUSALS,
             summary="Record a worker's request for guidance to start a business back home "
                     "(the station of their work site); it goes on the HR bureau's list")
async def post_guidance_request(worker_id: PathId, body: GuidanceRequest, request: Request,
                                ctx: EmploymentContext, org: Acting,
                                once: Idempotent) -> Response:
    command = RequestBusinessGuidance(worker_id=worker_id, **body.model_dump())
    return await execute(ctx, command, request, org, once)


@router.post("/workers/{worker_id}/business-guidance-requests/{request_id}/answer",
             status_code=204, tags=["返乡创业"], responses=REFUSALS,
             summary="Answer a request: who takes it on (HR bureau)")
async def post_guidance_answer(worker_id: PathId, request_id: PathId, body: GuidanceAnswer,
                               request: Request, ctx: EmploymentContext, org: Acting,
                               once: Idempotent) -> Response:
    command = GiveBusinessGuidance(worker_id=worker_id, request_id=request_id,
                                   referred_to=body.referred_to)
    return await execute(ctx, command, request, org, once)


@router.get("/business-guidance-requests", tags=["返乡创业"], responses=REFUSALS,
            summary="The HR bureau's list of requests for business guidance, oldest first "
                    "(paged); only those not answered yet unless open=false")
async def get_guidance_requests(ctx: EmploymentContext, org: Acting, page: Page,
                                request: Request, response: Response,
                                open_only: Annotated[bool, Query(alias="open")] = True
                                ) -> list[dict[str, Any]]:
    require(org, Action.VIEW_BUSINESS_GUIDANCE, Target())
    after = page.after_as(date.fromisoformat, str)
    async with ctx.pool.acquire() as conn:
        rows = await projections.guidance_requests(conn, open_only, after,
                                                  page.fetch_size())
    return answer_page(rows, lambda r: (iso(r["requested_on"]), r["request_id"]), page,
                       request, response)


# -- 订单式培训: employers' orders for trained workers ------------------------------------------

class OrderPlan(BaseModel):
    institution_id: Name = Field(description="The accredited institution that will train")
    class_id: Name = Field(pattern=r"^[^/]+$",
                           description="The class the institution is to schedule")


class OrderCancellation(BaseModel):
    reason: Text = Field(min_length=1)


@router.post("/orders", status_code=204, tags=["订单式培训"], responses=REFUSALS,
             summary="Record an employer's order for workers trained in an occupation at a "
                     "site (its station, or the HR bureau)")
async def post_order(body: PlaceTrainingOrder, request: Request, ctx: EmploymentContext,
                     org: Acting, once: Idempotent) -> Response:
    return await execute(ctx, body, request, org, once)


@router.post("/orders/{order_id}/plan", status_code=204, tags=["订单式培训"],
             responses=REFUSALS,
             summary="Turn an order into a class plan with an accredited institution "
                     "(HR bureau); the institution schedules the class in training")
async def post_order_plan(order_id: PathId, body: OrderPlan, request: Request,
                          ctx: EmploymentContext, org: Acting, once: Idempotent) -> Response:
    command = PlanTrainingOrder(order_id=order_id, **body.model_dump())
    return await execute(ctx, command, request, org, once)


@router.post("/orders/{order_id}/cancellation", status_code=204, tags=["订单式培训"],
             responses=REFUSALS, summary="Cancel an order, with the reason")
async def post_order_cancellation(order_id: PathId, body: OrderCancellation,
                                  request: Request, ctx: EmploymentContext, org: Acting,
                                  once: Idempotent) -> Response:
    command = CancelTrainingOrder(order_id=order_id, reason=body.reason)
    return await execute(ctx, command, request, org, once)


@router.get("/orders", tags=["订单式培训"], responses=REFUSALS,
            summary="Training orders: a station's in its sites, the HR bureau's everywhere "
                    "(paged by order id)")
async def get_orders(ctx: EmploymentContext, org: Acting, page: Page, request: Request,
                     response: Response) -> list[dict[str, Any]]:
    require_role(org, Action.VIEW_TRAINING_ORDERS)
    scopes = org.sites if org.role == "liaison_station" else None
    (after,) = page.after_as(str)
    async with ctx.pool.acquire() as conn:
        rows = await projections.training_orders(conn, scopes, after, page.fetch_size())
    return answer_page(rows, lambda r: (r["order_id"],), page, request, response)


@router.get("/orders/{order_id}", tags=["订单式培训"], responses=REFUSALS,
            summary="A training order: its terms, its class plan, whether it was cancelled")
async def get_order(order_id: PathId, ctx: EmploymentContext, org: Acting) -> dict[str, Any]:
    require_role(org, Action.VIEW_TRAINING_ORDERS)
    async with ctx.pool.acquire() as conn:
        row = await projections.training_order(conn, order_id)
    if row is None:
        raise NotFound("order_unknown", "No training order has this id.", order_id=order_id)
    require(org, Action.VIEW_TRAINING_ORDERS, Target(site=WorkSite(
        province=row["province"], city=row["city"], site_name=row["site_name"])))
    return row
