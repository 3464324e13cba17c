"""Results of an assessment, their voids, and the certificates a pass issues or a void revokes.

A result is never edited: a wrong one is voided and recorded anew. Voiding a pass also revokes
the certificate it issued, because a certificate must always rest on a live passing result.

``ASSESSMENT`` (the end of this module) is the assessment aggregate as the kit's command
pipeline runs it: scheduling (assessment.py) and these rules, on one stream per assessment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from services.assessment.domain import assessment as scheduling
from services.assessment.domain.assessment import (
    Assessment,
    AssessmentEvent,
    CertificateEntry,
    ForScheduling,
    ScheduleAssessment,
    assessment_stream,
    require_scheduled,
)
from services.assessment.domain.certificate_number import certificate_number
from shared.contracts.assessment import (
    AssessmentResultRecorded,
    AssessmentResultVoided,
    AssessmentScheduled,
    CertificationRevoked,
    SkillLevelCertified,
)
from shared.contracts.bounds import MAX_RESULTS_PER_CANDIDATE, Id
from shared.runtime.commands import Decider
from shared.runtime.errors import DomainError


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RecordResult(_Command):
    assessment_id: Id
    worker_id: Id
    theory_score: int = Field(ge=0, le=100)
    practical_score: int = Field(ge=0, le=100)


class VoidResult(_Command):
    assessment_id: Id
    result_id: Id
    reason: str = Field(min_length=1, max_length=500)


class RevokeCertificate(_Command):
    """Names the certificate only: the assessment that issued it is looked up."""

    certificate_id: Id
    reason: str = Field(min_length=1, max_length=500)


@dataclass(frozen=True, slots=True)
class PassMarks:
    theory: int = 60
    practical: int = 60

    def passed(self, theory_score: int, practical_score: int) -> bool:
        return theory_score >= self.theory and practical_score >= self.practical


@dataclass(frozen=True, slots=True)
class CertificateIssue:
    """What is handed out for a certificate that may be issued: its id and number."""

    certificate_id: str
    body_code: str
    sequence: int  # the body's next certificate number this year


@dataclass(frozen=True, slots=True)
class ForResult:
    """What recording a result is given: its id, the certificate a pass would issue, the day
    and the pass marks."""

    result_id: str
    issue: CertificateIssue
    today: date
    pass_marks: PassMarks


@dataclass(frozen=True, slots=True)
class ForVoid:
    today: date


@dataclass(frozen=True, slots=True)
class ForRevocation:
    """The assessment that issued the certificate, and the day."""

    assessment_id: str
    today: date


def record(cmd: RecordResult, state: Assessment, *, result_id: str, issue: CertificateIssue,
           today: date, pass_marks: PassMarks | None = None) -> list[AssessmentEvent]:
    scheduled = require_scheduled(state, cmd.assessment_id)
    marks = pass_marks or PassMarks()
    if today < scheduled.scheduled_on:
        raise DomainError("assessment_not_held_yet",
                          f"The assessment is scheduled for {scheduled.scheduled_on}.",
                          scheduled_on=scheduled.scheduled_on.isoformat())
    if cmd.worker_id not in scheduled.candidate_ids:
        raise DomainError("not_a_candidate", "The worker is not a candidate of this assessment.",
                          worker_id=cmd.worker_id)
    existing = state.live_result_of(cmd.worker_id)
    if existing is not None:
        raise DomainError("result_already_recorded",
                          "The worker's result is already recorded; void it first to correct it.",
                          result_id=existing.result_id)
    results = sum(1 for r in state.results.values() if r.worker_id == cmd.worker_id)
    if results >= MAX_RESULTS_PER_CANDIDATE:
        raise DomainError("too_many_results",
                          f"The worker already has {results} results in this assessment, "
                          "corrections included; no more can be recorded.",
                          worker_id=cmd.worker_id, limit=MAX_RESULTS_PER_CANDIDATE)
    passed = marks.passed(cmd.theory_score, cmd.practical_score)
    events: list[AssessmentEvent] = [AssessmentResultRecorded(
        result_id=result_id, assessment_id=cmd.assessment_id, worker_id=cmd.worker_id,
        theory_score=cmd.theory_score, practical_score=cmd.practical_score, passed=passed,
    )]
    if passed:
        events.append(SkillLevelCertified(
            certificate_id=issue.certificate_id,
            certificate_number=certificate_number(issue.body_code, today.year, issue.sequence),
            worker_id=cmd.worker_id, occupation_code=scheduled.occupation_code,
            level=scheduled.level, body_id=scheduled.body_id,
            assessment_id=cmd.assessment_id, class_id=scheduled.class_id, certified_on=today,
        ))
    return events


def void(cmd: VoidResult, state: Assessment, *, today: date) -> list[AssessmentEvent]:
    scheduled = require_scheduled(state, cmd.assessment_id)
    result = state.results.get(cmd.result_id)
    if result is None:
        raise DomainError("result_unknown", "The assessment has no result with this id.",
                          result_id=cmd.result_id)
    if result.voided:
        raise DomainError("result_already_voided", "This result is already void.",
                          result_id=cmd.result_id)
    events: list[AssessmentEvent] = [AssessmentResultVoided(
        result_id=result.result_id, assessment_id=cmd.assessment_id,
        worker_id=result.worker_id, reason=cmd.reason,
    )]
    certificate = state.live_certificate_of(result.worker_id) if result.passed else None
    if certificate is not None:
        events.append(_revoked(scheduled, certificate, f"result voided: {cmd.reason}", today))
    return events


def revoke(cmd: RevokeCertificate, state: Assessment, *, assessment_id: str,
           today: date) -> list[AssessmentEvent]:
    """``assessment_id``: the assessment that issued the certificate (looked up by its id)."""
    scheduled = require_scheduled(state, assessment_id)
    certificate = state.certificates.get(cmd.certificate_id)
    if certificate is None:
        raise DomainError("certificate_unknown",
                          "The assessment issued no certificate with this id.",
                          certificate_id=cmd.certificate_id)
    if certificate.revoked:
        raise DomainError("certificate_already_revoked", "This certificate is already revoked.",
                          certificate_id=cmd.certificate_id)
    return [_revoked(scheduled, certificate, cmd.reason, today)]


def _revoked(scheduled: AssessmentScheduled, certificate: CertificateEntry, reason: str,
             today: date) -> CertificationRevoked:
    return CertificationRevoked(
        certificate_id=certificate.certificate_id,
        certificate_number=certificate.certificate_number, worker_id=certificate.worker_id,
        occupation_code=scheduled.occupation_code, level=scheduled.level,
        class_id=scheduled.class_id, reason=reason, revoked_on=today,
    )


AssessmentCommand = ScheduleAssessment | RecordResult | VoidResult | RevokeCertificate
Given = ForScheduling | ForResult | ForVoid | ForRevocation


def decide(command: AssessmentCommand, state: Assessment, given: Given
           ) -> list[AssessmentEvent]:
    """Route a command to its rules with what it was given; a command given the wrong facts
    is a programming error (``TypeError``), not a refusal."""
    match command, given:
        case ScheduleAssessment(), ForScheduling():
            return scheduling.schedule(command, state, body=given.body,
                                       class_view=given.class_view)
        case RecordResult(), ForResult():
            return record(command, state, result_id=given.result_id, issue=given.issue,
                          today=given.today, pass_marks=given.pass_marks)
        case VoidResult(), ForVoid():
            return void(command, state, today=given.today)
        case RevokeCertificate(), ForRevocation():
            return revoke(command, state, assessment_id=given.assessment_id, today=given.today)
    raise TypeError(f"not an assessment command with its facts: {command!r}, {given!r}")


ASSESSMENT: Decider[Assessment] = Decider(stream=assessment_stream, initial=Assessment(),
                                          evolve=scheduling.evolve, decide=decide)
