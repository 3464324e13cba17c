"""An assessment of a completed class's trainees, and its independence rules (考培分离).

The body that assesses must not be the class's institution nor tied to it or its partners,
and no assessor may have taught the class or be tied to its institution. Results, voids and
certificates of the same assessment live in ``results.py`` (with the aggregate's decider,
``ASSESSMENT``); this is the state and scheduling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from services.assessment.domain.body import AssessmentBody, require_registered
from services.assessment.domain.class_view import ClassView
from shared.contracts.assessment import (
    AssessmentResultRecorded,
    AssessmentResultVoided,
    AssessmentScheduled,
    CertificationRevoked,
    SkillLevelCertified,
)
from shared.contracts.bounds import MAX_CLASS_SIZE, MAX_PEOPLE, Id
from shared.runtime.errors import DomainError

AssessmentEvent = (AssessmentScheduled | AssessmentResultRecorded | AssessmentResultVoided
                   | SkillLevelCertified | CertificationRevoked)


class ScheduleAssessment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    assessment_id: str = Field(min_length=1, max_length=64)
    body_id: Id
    class_id: Id
    assessor_ids: list[Id] = Field(min_length=1, max_length=MAX_PEOPLE)
    scheduled_on: date
    candidate_ids: list[Id] | None = Field(
        None, max_length=MAX_CLASS_SIZE,
        description="Worker ids; by default every trainee who met the threshold")


@dataclass(frozen=True, slots=True)
class ResultEntry:
    result_id: str
    worker_id: str
    passed: bool
    voided: bool = False


@dataclass(frozen=True, slots=True)
class CertificateEntry:
    certificate_id: str
    certificate_number: str
    worker_id: str
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class Assessment:
    scheduled: AssessmentScheduled | None = None
    results: Mapping[str, ResultEntry] = field(default_factory=dict)
    certificates: Mapping[str, CertificateEntry] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.scheduled is not None

    def live_result_of(self, worker_id: str) -> ResultEntry | None:
        return next((r for r in self.results.values()
                     if r.worker_id == worker_id and not r.voided), None)

    def live_certificate_of(self, worker_id: str) -> CertificateEntry | None:
        return next((c for c in self.certificates.values()
                     if c.worker_id == worker_id and not c.revoked), None)


@dataclass(frozen=True, slots=True)
class ForScheduling:
    """What scheduling is given besides the assessment's state: the assessing body (another
    aggregate, as it stands) and the class as assessment sees it (``None``: unknown)."""

    body: AssessmentBody
    class_view: ClassView | None


def schedule(cmd: ScheduleAssessment, state: Assessment, *, body: AssessmentBody,
             class_view: ClassView | None) -> list[AssessmentEvent]:
    if state.exists:
        raise DomainError("assessment_already_scheduled",
                          "An assessment with this id is already scheduled.",
                          assessment_id=cmd.assessment_id)
    require_registered(body, cmd.body_id)
    if class_view is None or not class_view.completed:
        raise DomainError("class_not_completed",
                          "Only the trainees of a completed class can be assessed.",
                          class_id=cmd.class_id)
    assert class_view.completed_on is not None
    if cmd.scheduled_on < class_view.completed_on:
        raise DomainError("assessment_before_completion",
                          f"The class completed on {class_view.completed_on}; the assessment "
                          "cannot be before that.",
                          completed_on=class_view.completed_on.isoformat())
    _refuse_dependent_body(cmd.body_id, body, class_view)
    for assessor_id in sorted(set(cmd.assessor_ids)):
        _refuse_dependent_assessor(assessor_id, body, class_view)
    candidates = _candidates(cmd, class_view)
    return [AssessmentScheduled(
        assessment_id=cmd.assessment_id, body_id=cmd.body_id, class_id=cmd.class_id,
        occupation_code=class_view.occupation_code, level=class_view.target_level,
        assessor_ids=sorted(set(cmd.assessor_ids)), candidate_ids=candidates,
        scheduled_on=cmd.scheduled_on,
    )]


def _refuse_dependent_body(body_id: str, body: AssessmentBody, view: ClassView) -> None:
    if body_id == view.institution_id:
        raise DomainError("body_not_independent",
                          "The assessment body is the institution that ran the class; "
                          "training and assessment must be separate.",
                          body_id=body_id, institution_id=view.institution_id)
    if view.institution_id in body.affiliations:
        raise DomainError("body_not_independent",
                          "The assessment body is affiliated with the institution that ran the "
                          "class; training and assessment must be separate.",
                          body_id=body_id, institution_id=view.institution_id)
    tied_partners = sorted(body.affiliations & view.institution_partners)
    if tied_partners:
        raise DomainError("body_not_independent",
                          "The assessment body is affiliated with a partner of the institution "
                          f"that ran the class ({', '.join(tied_partners)}).",
                          body_id=body_id, partners=tied_partners)


def _refuse_dependent_assessor(assessor_id: str, body: AssessmentBody, view: ClassView) -> None:
    affiliations = body.assessors.get(assessor_id)
    if affiliations is None:
        raise DomainError("assessor_unknown", "This assessor does not belong to the body.",
                          assessor_id=assessor_id)
    if assessor_id in view.trainer_ids:
        raise DomainError("assessor_must_recuse",
                          "This assessor taught the class and must recuse.",
                          assessor_id=assessor_id, reason="taught_the_class")
    if view.institution_id in affiliations or affiliations & view.institution_partners:
        raise DomainError("assessor_must_recuse",
                          "This assessor is affiliated with the institution that ran the class "
                          "and must recuse.",
                          assessor_id=assessor_id, reason="affiliated_with_institution")


def _candidates(cmd: ScheduleAssessment, view: ClassView) -> list[str]:
    if cmd.candidate_ids is None:
        candidates = sorted(view.eligible_worker_ids)
    else:
        candidates = sorted(set(cmd.candidate_ids))
        ineligible = [w for w in candidates if w not in view.eligible_worker_ids]
        if ineligible:
            raise DomainError("candidate_not_eligible",
                              "Only trainees of the class who met the attendance threshold may "
                              "be assessed.", worker_ids=ineligible)
    if not candidates:
        raise DomainError("no_eligible_candidates",
                          "No trainee of this class met the attendance threshold.",
                          class_id=cmd.class_id)
    return candidates


def evolve(state: Assessment, event: AssessmentEvent) -> Assessment:
    match event:
        case AssessmentScheduled():
            return Assessment(scheduled=event)
        case AssessmentResultRecorded():
            entry = ResultEntry(event.result_id, event.worker_id, event.passed)
            return replace(state, results={**state.results, event.result_id: entry})
        case AssessmentResultVoided():
            voided = replace(state.results[event.result_id], voided=True)
            return replace(state, results={**state.results, event.result_id: voided})
        case SkillLevelCertified():
            cert = CertificateEntry(event.certificate_id, event.certificate_number,
                                    event.worker_id)
            return replace(state, certificates={**state.certificates,
                                                event.certificate_id: cert})
        case CertificationRevoked():
            revoked = replace(state.certificates[event.certificate_id], revoked=True)
            return replace(state, certificates={**state.certificates,
                                                event.certificate_id: revoked})
    return state


def require_scheduled(state: Assessment, assessment_id: str) -> AssessmentScheduled:
    if state.scheduled is None:
        raise DomainError("assessment_unknown", "No assessment is scheduled with this id.",
                          assessment_id=assessment_id)
    return state.scheduled


def assessment_stream(assessment_id: str) -> str:
    return f"assessment-{assessment_id}"
