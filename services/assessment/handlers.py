"""Assessment's command handlers: authorise, load, decide, append and project."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from services.assessment import projections
from services.assessment.domain import assessment, body, results
from services.assessment.domain.assessment import Assessment, ScheduleAssessment
from services.assessment.domain.body import AddAssessor, AssessmentBody, RegisterAssessmentBody
from services.assessment.domain.results import (
    CertificateIssue,
    PassMarks,
    RecordResult,
    RevokeCertificate,
    VoidResult,
)
from services.assessment.settings import AssessmentSettings
from shared.aggregate import load
from shared.auth.policy import Action, Organisation, Target, require
from shared.calendar import programme_today
from shared.contracts import Event, Metadata
from shared.contracts.assessment import SkillLevelCertified
from shared.runtime.errors import NotFound
from shared.runtime.service import ServiceContext


def body_stream(body_id: str) -> str:
    return f"body-{body_id}"


def assessment_stream(assessment_id: str) -> str:
    return f"assessment-{assessment_id}"


async def _append(conn: asyncpg.Connection, ctx: ServiceContext, stream: str, version: int,
                  events: Sequence[Event], metadata: Metadata) -> None:
    await ctx.store.append(stream, version, events, metadata, conn=conn)
    await projections.project(conn, events)


async def _body(ctx: ServiceContext, body_id: str) -> tuple[AssessmentBody, int]:
    return await load(ctx.store, body_stream(body_id), body.evolve, AssessmentBody())


async def owned_assessment(ctx: ServiceContext, assessment_id: str, org: Organisation,
                            action: Action) -> tuple[Assessment, int]:
    state, version = await load(ctx.store, assessment_stream(assessment_id), assessment.evolve,
                                Assessment())
    if state.scheduled is None:
        require(org, action, Target(body_id=org.body_id))
        raise NotFound("assessment_unknown", "No assessment is scheduled with this id.",
                       assessment_id=assessment_id)
    require(org, action, Target(body_id=state.scheduled.body_id))
    return state, version


def _pass_marks(ctx: ServiceContext) -> PassMarks:
    settings = ctx.settings
    if isinstance(settings, AssessmentSettings):
        return PassMarks(theory=settings.theory_pass_mark, practical=settings.practical_pass_mark)
    return PassMarks()


async def register_body(ctx: ServiceContext, cmd: RegisterAssessmentBody, org: Organisation,
                        metadata: Metadata) -> None:
    require(org, Action.REGISTER_ASSESSMENT_BODY)
    state, version = await _body(ctx, cmd.body_id)
    events = body.register(cmd, state)
    async with ctx.pool.acquire() as conn, conn.transaction():
        await _append(conn, ctx, body_stream(cmd.body_id), version, events, metadata)


async def add_assessor(ctx: ServiceContext, cmd: AddAssessor, org: Organisation,
                       metadata: Metadata) -> None:
    require(org, Action.ADD_ASSESSOR, Target(body_id=cmd.body_id))
    state, version = await _body(ctx, cmd.body_id)
    events = body.add_assessor(cmd, state)
    async with ctx.pool.acquire() as conn, conn.transaction():
        await _append(conn, ctx, body_stream(cmd.body_id), version, events, metadata)


async def schedule(ctx: ServiceContext, cmd: ScheduleAssessment, org: Organisation,
                   metadata: Metadata) -> None:
    require(org, Action.SCHEDULE_ASSESSMENT, Target(body_id=cmd.body_id))
    the_body, _ = await _body(ctx, cmd.body_id)
    state, version = await load(ctx.store, assessment_stream(cmd.assessment_id),
                                assessment.evolve, Assessment())
    async with ctx.pool.acquire() as conn, conn.transaction():
        view = await projections.class_view(conn, cmd.class_id)
        events = assessment.schedule(cmd, state, body=the_body, class_view=view)
        await _append(conn, ctx, assessment_stream(cmd.assessment_id), version, events,
                      metadata)


async def record_result(ctx: ServiceContext, cmd: RecordResult, org: Organisation,
                        metadata: Metadata) -> tuple[str, str | None]:
    """The result id, and the certificate number when the result is a pass."""
    state, version = await owned_assessment(ctx, cmd.assessment_id, org, Action.RECORD_RESULT)
    assert state.scheduled is not None
    the_body, _ = await _body(ctx, state.scheduled.body_id)
    code = the_body.code or the_body.body_id or "X"
    today = programme_today()
    result_id = uuid.uuid4().hex
    async with ctx.pool.acquire() as conn, conn.transaction():
        sequence = await projections.next_certificate_sequence(conn, code, today.year)
        issue = CertificateIssue(certificate_id=uuid.uuid4().hex, body_code=code,
                                 sequence=sequence)
        events = results.record(cmd, state, result_id=result_id, issue=issue, today=today,
                                pass_marks=_pass_marks(ctx))
        await _append(conn, ctx, assessment_stream(cmd.assessment_id), version, events,
                      metadata)
        certified = [e for e in events if isinstance(e, SkillLevelCertified)]
        if certified:
            await projections.use_certificate_sequence(conn, code, today.year, sequence)
    return result_id, certified[0].certificate_number if certified else None


async def void_result(ctx: ServiceContext, cmd: VoidResult, org: Organisation,
                      metadata: Metadata) -> None:
    state, version = await owned_assessment(ctx, cmd.assessment_id, org, Action.VOID_RESULT)
    events = results.void(cmd, state, today=programme_today())
    async with ctx.pool.acquire() as conn, conn.transaction():
        await _append(conn, ctx, assessment_stream(cmd.assessment_id), version, events,
                      metadata)


async def revoke_certificate(ctx: ServiceContext, certificate_id: str, reason: str,
                             org: Organisation, metadata: Metadata) -> None:
    async with ctx.pool.acquire() as conn:
        assessment_id = await projections.assessment_of_certificate(conn, certificate_id)
    if assessment_id is None:
        require(org, Action.REVOKE_CERTIFICATE, Target(body_id=org.body_id))
        raise NotFound("certificate_unknown", "No certificate has this id.",
                       certificate_id=certificate_id)
    state, version = await owned_assessment(ctx, assessment_id, org, Action.REVOKE_CERTIFICATE)
    cmd = RevokeCertificate(assessment_id=assessment_id, certificate_id=certificate_id,
                            reason=reason)
    events = results.revoke(cmd, state, today=programme_today())
    async with ctx.pool.acquire() as conn, conn.transaction():
        await _append(conn, ctx, assessment_stream(assessment_id), version, events, metadata)
