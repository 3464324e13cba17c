"""Assessment's commands as the kit's pipeline runs them (shared/runtime/commands.py): per
command, what it looks up, which body's or assessment's stream it is decided on, who may do it
where, what it writes besides its events, and what it answers.

An assessment body acts on its own body and the assessments it holds; the HR bureau registers
bodies and may add assessors and revoke certificates anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from services.assessment import projections
from services.assessment.api import ResultRecorded
from services.assessment.domain.assessment import Assessment, ForScheduling, ScheduleAssessment
from services.assessment.domain.body import (
    BODY,
    AddAssessor,
    AssessmentBody,
    RegisterAssessmentBody,
)
from services.assessment.domain.results import (
    ASSESSMENT,
    CertificateIssue,
    ForResult,
    ForRevocation,
    ForVoid,
    PassMarks,
    RecordResult,
    RevokeCertificate,
    VoidResult,
)
from services.assessment.settings import AssessmentSettings
from shared.aggregate import load
from shared.auth.policy import Action, Target
from shared.calendar import programme_today
from shared.contracts import Event
from shared.contracts.assessment import SkillLevelCertified
from shared.runtime.commands import Call, CommandSpec, Decider
from shared.runtime.errors import NotFound

S = TypeVar("S")


async def _load(call: Call[Any], decider: Decider[S], aggregate_id: str) -> S:
    """Another aggregate than the command's, as it stands, read in the command's transaction."""
    state, _ = await load(call.ctx.store, decider.stream(aggregate_id), decider.evolve,
                          decider.initial, conn=call.conn)
    return state


def _unknown_assessment(assessment_id: str) -> NotFound:
    return NotFound("assessment_unknown", "No assessment is scheduled with this id.",
                    assessment_id=assessment_id)


def _held_by(state: Assessment, assessment_id: str) -> Target:
    """An assessment's commands are its body's: 404 when no assessment has this id."""
    if state.scheduled is None:
        raise _unknown_assessment(assessment_id)
    return Target(body_id=state.scheduled.body_id)


# -- bodies and their assessors ----------------------------------------------------------------

REGISTER_ASSESSMENT_BODY: CommandSpec[RegisterAssessmentBody, AssessmentBody, None] = \
    CommandSpec(decider=BODY, aggregate_id=lambda command, _: command.body_id,
                action=Action.REGISTER_ASSESSMENT_BODY)

ADD_ASSESSOR: CommandSpec[AddAssessor, AssessmentBody, None] = CommandSpec(
    decider=BODY,
    aggregate_id=lambda command, _: command.body_id,
    action=Action.ADD_ASSESSOR,
    scope=lambda command, _, __: Target(body_id=command.body_id),
)


# -- scheduling --------------------------------------------------------------------------------

async def _for_scheduling(call: Call[ScheduleAssessment]) -> ForScheduling:
    command = call.command
    return ForScheduling(body=await _load(call, BODY, command.body_id),
                         class_view=await projections.class_view(call.conn, command.class_id))


SCHEDULE_ASSESSMENT: CommandSpec[ScheduleAssessment, Assessment, ForScheduling] = CommandSpec(
    decider=ASSESSMENT,
    aggregate_id=lambda command, _: command.assessment_id,
    action=Action.SCHEDULE_ASSESSMENT,
    given=_for_scheduling,
    scope=lambda command, _, __: Target(body_id=command.body_id),
)


# -- results and certificates ------------------------------------------------------------------

def _pass_marks(call: Call[Any]) -> PassMarks:
    settings: AssessmentSettings = call.ctx.settings
    return PassMarks(theory=settings.theory_pass_mark, practical=settings.practical_pass_mark)


async def _for_result(call: Call[RecordResult]) -> ForResult:
    command = call.command
    # A certificate number starts with the code of the body holding the assessment, so the
    # assessment is read here for its body (the pipeline reads it again for the decision;
    # its body never changes once scheduled).
    held = await _load(call, ASSESSMENT, command.assessment_id)
    if held.scheduled is None:
        raise _unknown_assessment(command.assessment_id)
    the_body = await _load(call, BODY, held.scheduled.body_id)
    code = the_body.code or the_body.body_id or "X"
    today = programme_today()
    # Locks the body's sequence for the year until commit: certificates are numbered one at
    # a time, and a number is used only by the result that commits with it (see ``record``).
    sequence = await projections.next_certificate_sequence(call.conn, code, today.year)
    return ForResult(result_id=call.new_id(),
                     issue=CertificateIssue(certificate_id=call.new_id(), body_code=code,
                                            sequence=sequence),
                     today=today, pass_marks=_pass_marks(call))


def _certified(events: Sequence[Event]) -> SkillLevelCertified | None:
    return next((e for e in events if isinstance(e, SkillLevelCertified)), None)


async def _use_certificate_number(call: Call[RecordResult], given: ForResult,
                                  events: Sequence[Event]) -> None:
    if _certified(events) is not None:
        await projections.use_certificate_sequence(call.conn, given.issue.body_code,
                                                   given.today.year, given.issue.sequence)


def _result_recorded(_: Call[RecordResult], given: ForResult,
                     events: Sequence[Event]) -> ResultRecorded:
    certified = _certified(events)
    return ResultRecorded(result_id=given.result_id,
                          certificate_number=certified.certificate_number if certified else None)


RECORD_RESULT: CommandSpec[RecordResult, Assessment, ForResult] = CommandSpec(
    decider=ASSESSMENT,
    aggregate_id=lambda command, _: command.assessment_id,
    action=Action.RECORD_RESULT,
    given=_for_result,
    scope=lambda command, state, _: _held_by(state, command.assessment_id),
    record=_use_certificate_number,
    answer=_result_recorded,
    status_code=201,
)


async def _for_void(_: Call[VoidResult]) -> ForVoid:
    return ForVoid(today=programme_today())


VOID_RESULT: CommandSpec[VoidResult, Assessment, ForVoid] = CommandSpec(
    decider=ASSESSMENT,
    aggregate_id=lambda command, _: command.assessment_id,
    action=Action.VOID_RESULT,
    given=_for_void,
    scope=lambda command, state, _: _held_by(state, command.assessment_id),
)


async def _for_revocation(call: Call[RevokeCertificate]) -> ForRevocation:
    certificate_id = call.command.certificate_id
    assessment_id = await projections.assessment_of_certificate(call.conn, certificate_id)
    if assessment_id is None:
        raise NotFound("certificate_unknown", "No certificate has this id.",
                       certificate_id=certificate_id)
    return ForRevocation(assessment_id=assessment_id, today=programme_today())


REVOKE_CERTIFICATE: CommandSpec[RevokeCertificate, Assessment, ForRevocation] = CommandSpec(
    decider=ASSESSMENT,
    aggregate_id=lambda _, given: given.assessment_id,
    action=Action.REVOKE_CERTIFICATE,
    given=_for_revocation,
    scope=lambda _, state, given: _held_by(state, given.assessment_id),
)


COMMANDS: dict[type, CommandSpec[Any, Any, Any]] = {
    RegisterAssessmentBody: REGISTER_ASSESSMENT_BODY,
    AddAssessor: ADD_ASSESSOR,
    ScheduleAssessment: SCHEDULE_ASSESSMENT,
    RecordResult: RECORD_RESULT,
    VoidResult: VOID_RESULT,
    RevokeCertificate: REVOKE_CERTIFICATE,
}
