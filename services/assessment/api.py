"""Assessment's HTTP API. Every command needs an organisation's bearer token, runs through the
kit's command pipeline (services/assessment/commands.py) and accepts an ``Idempotency-Key``
(shared/runtime/idempotency.py): a result retried after its answer was lost is refused
(``result_already_recorded``) without its certificate number, unless the request carried a
key, whose retry gets the first answer again."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from services.assessment import projections, statistics
from services.assessment.domain.assessment import ScheduleAssessment
from services.assessment.domain.body import AddAssessor, RegisterAssessmentBody
from services.assessment.domain.results import (
    ASSESSMENT,
    RecordResult,
    RevokeCertificate,
    VoidResult,
)
from shared.aggregate import load
from shared.auth.http import REFUSALS, Acting
from shared.auth.policy import Action, Target, require
from shared.contracts.bounds import MAX_TIES, Id, Name
from shared.runtime.commands import execute
from shared.runtime.errors import NotFound
from shared.runtime.idempotency import Idempotent
from shared.runtime.paging import Page, answer_page
from shared.runtime.params import PathId
from shared.runtime.service import Context

router = APIRouter()


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class Assessor(BaseModel):
    assessor_id: str = Field(min_length=1, max_length=64)
    affiliations: list[Name] = Field(default_factory=list, max_length=MAX_TIES)


class Scores(BaseModel):
    worker_id: Id
    theory_score: int = Field(ge=0, le=100)
    practical_score: int = Field(ge=0, le=100)


class ResultRecorded(BaseModel):
    result_id: str
    certificate_number: str | None = Field(None, description="Issued when the result is a pass")


@router.post("/bodies", status_code=status.HTTP_204_NO_CONTENT, tags=["bodies"],
             responses=REFUSALS, summary="Register an assessment body (HR bureau)")
async def post_body(body: RegisterAssessmentBody, request: Request, ctx: Context,
                    org: Acting, once: Idempotent) -> Response:
    return await execute(ctx, body, request, org, once)


@router.post("/bodies/{body_id}/assessors", status_code=204, tags=["bodies"], responses=REFUSALS,
             summary="Add an assessor with their affiliations (the body, or HR)")
async def post_assessor(body_id: PathId, body: Assessor, request: Request, ctx: Context,
                        org: Acting, once: Idempotent) -> Response:
    command = AddAssessor(body_id=body_id, **body.model_dump())
    return await execute(ctx, command, request, org, once)


@router.post("/assessments", status_code=204, tags=["assessments"], responses=REFUSALS,
             summary="Schedule an assessment of a completed class's eligible trainees")
async def post_assessment(body: ScheduleAssessment, request: Request, ctx: Context,
                          org: Acting, once: Idempotent) -> Response:
    return await execute(ctx, body, request, org, once)


@router.post("/assessments/{assessment_id}/results", status_code=201, tags=["assessments"],
             response_model=ResultRecorded, responses=REFUSALS,
             summary="Record a candidate's scores; a pass certifies the skill level")
async def post_result(assessment_id: PathId, body: Scores, request: Request, ctx: Context,
                      org: Acting, once: Idempotent) -> Response:
    command = RecordResult(assessment_id=assessment_id, **body.model_dump())
    return await execute(ctx, command, request, org, once)


@router.post("/assessments/{assessment_id}/results/{result_id}/void", status_code=204,
             tags=["assessments"], responses=REFUSALS,
             summary="Void a result (a pass's certificate is revoked with it)")
async def post_void(assessment_id: PathId, result_id: PathId, body: Reason, request: Request,
                    ctx: Context, org: Acting, once: Idempotent) -> Response:
    command = VoidResult(assessment_id=assessment_id, result_id=result_id, reason=body.reason)
    return await execute(ctx, command, request, org, once)


@router.post("/certificates/{certificate_id}/revocation", status_code=204,
             tags=["certificates"], responses=REFUSALS,
             summary="Revoke a certificate with a reason (its body, or HR)")
async def post_revocation(certificate_id: PathId, body: Reason, request: Request, ctx: Context,
                          org: Acting, once: Idempotent) -> Response:
    command = RevokeCertificate(certificate_id=certificate_id, reason=body.reason)
    return await execute(ctx, command, request, org, once)


@router.get("/assessments/{assessment_id}/results", tags=["queries"], responses=REFUSALS,
            summary="An assessment's results and certificates (its body, HR, auditors), paged by "
                    "candidate: a page holds the results and certificates of its candidates")
async def get_results(assessment_id: PathId, ctx: Context, org: Acting, page: Page,
                      request: Request, response: Response) -> dict[str, Any]:
    state, _ = await load(ctx.store, ASSESSMENT.stream(assessment_id), ASSESSMENT.evolve,
                          ASSESSMENT.initial)
    if state.scheduled is None:
        # Those whose role may read results are told it is unknown; others, that they may not.
        require(org, Action.VIEW_RESULTS, Target(body_id=org.body_id))
        raise NotFound("assessment_unknown", "No assessment is scheduled with this id.",
                       assessment_id=assessment_id)
    require(org, Action.VIEW_RESULTS, Target(body_id=state.scheduled.body_id))
    (after,) = page.after_as(str)
    async with ctx.pool.acquire() as conn:
        candidates = await projections.candidates_with_results(conn, assessment_id, after,
                                                               page.fetch_size())
        shown = answer_page(candidates, lambda w: (w,), page, request, response)
        return {"assessment_id": assessment_id,
                **await projections.results_of(conn, assessment_id, shown)}


@router.get("/classes/awaiting-assessment", tags=["queries"], responses=REFUSALS,
            summary="Completed classes with trainees to assess and no assessment scheduled yet: "
                    "the assessment bodies' task queue (paged by class id; no trainee named)")
async def get_classes_awaiting_assessment(ctx: Context, org: Acting, page: Page,
                                          request: Request, response: Response
                                          ) -> list[dict[str, Any]]:
    require(org, Action.VIEW_ASSESSMENT_QUEUE, Target())
    (after,) = page.after_as(str)
    async with ctx.pool.acquire() as conn:
        rows = await projections.classes_awaiting_assessment(conn, after, page.fetch_size())
    return answer_page(rows, lambda r: (r["class_id"],), page, request, response)


@router.get("/statistics/certificates", tags=["queries"], responses=REFUSALS,
            summary="Live certificates counted by occupation and level (paged)")
async def get_certificate_counts(ctx: Context, org: Acting, page: Page, request: Request,
                                 response: Response) -> list[dict[str, Any]]:
    require(org, Action.VIEW_STATISTICS, Target())
    async with ctx.pool.acquire() as conn:
        counts = await statistics.certificate_counts(conn, page.after_as(str, int),
                                                     page.fetch_size())
    return answer_page(counts, lambda c: (c["occupation_code"], c["level"]), page, request,
                       response)
