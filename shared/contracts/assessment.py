"""Events published by the assessment service (topic ``songji.assessment.events``).

Training and assessment are separated (考培分离): a body never certifies the trainees of an
institution it is, or is affiliated with.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from shared.contracts.base import Event, contract
from shared.contracts.bounds import MAX_CLASS_SIZE, MAX_PEOPLE, MAX_TIES, Id, ShortText, Text
from shared.contracts.common import OccupationCode, SkillLevel


@contract("assessment")
class AssessmentBodyRegistered(Event):
    """The HR bureau registered an independent assessment body and its affiliations."""

    body_id: Id
    name: ShortText
    affiliations: list[ShortText] = Field(default_factory=list, max_length=MAX_TIES,
                                          description="Institutions and employers it is tied to")
    assessor_ids: list[Id] = Field(default_factory=list, max_length=MAX_PEOPLE)
    code: ShortText | None = Field(
        None, description="Short code that prefixes its certificate numbers")


@contract("assessment")
class AssessorAdded(Event):
    """An assessor joined a body; their affiliations decide when they must recuse."""

    body_id: Id
    assessor_id: Id
    affiliations: list[ShortText] = Field(default_factory=list, max_length=MAX_TIES,
                                          description="Institutions and employers they are tied to")


@contract("assessment")
class AssessmentScheduled(Event):
    """An independent body will assess the eligible trainees of a completed class."""

    assessment_id: Id
    body_id: Id
    class_id: Id
    occupation_code: OccupationCode
    level: SkillLevel
    assessor_ids: list[Id] = Field(max_length=MAX_PEOPLE)
    candidate_ids: list[Id] = Field(max_length=MAX_CLASS_SIZE, description="worker ids")
    scheduled_on: date


@contract("assessment")
class AssessmentResultRecorded(Event):
    """A candidate's theory and practical scores, and whether they passed."""

    result_id: Id
    assessment_id: Id
    worker_id: Id
    theory_score: int = Field(ge=0, le=100)
    practical_score: int = Field(ge=0, le=100)
    passed: bool


@contract("assessment")
class AssessmentResultVoided(Event):
    """A result no longer counts (a correction); its certificate, if any, is revoked."""

    result_id: Id
    assessment_id: Id
    worker_id: Id
    reason: Text


@contract("assessment")
class SkillLevelCertified(Event):
    """An independent body certified a worker's skill level in an occupation."""

    certificate_id: Id
    certificate_number: ShortText
    worker_id: Id
    occupation_code: OccupationCode
    level: SkillLevel
    body_id: Id
    assessment_id: Id
    class_id: Id
    certified_on: date


@contract("assessment")
class CertificationRevoked(Event):
    """A certificate was withdrawn, with the reason; subsidies paid on it are reversed."""

    certificate_id: Id
    certificate_number: ShortText
    worker_id: Id
    occupation_code: OccupationCode
    level: SkillLevel
    class_id: Id
    reason: Text
    revoked_on: date
