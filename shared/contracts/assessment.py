"""Events published by the assessment service (topic ``songji.assessment.events``).

Training and assessment are separated (考培分离): a body never certifies the trainees of an
institution it is, or is affiliated with.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from shared.contracts.base import Event, contract
from shared.contracts.common import OccupationCode, SkillLevel


@contract("assessment")
class AssessmentBodyRegistered(Event):
    """The HR bureau registered an independent assessment body and its affiliations."""

    body_id: str
    name: str
    affiliations: list[str] = Field(default_factory=list,
                                    description="Institutions and employers it is tied to")
    assessor_ids: list[str] = Field(default_factory=list)
    code: str | None = Field(None, description="Short code that prefixes its certificate numbers")


@contract("assessment")
class AssessorAdded(Event):
    """An assessor joined a body; their affiliations decide when they must recuse."""

    body_id: str
    assessor_id: str
    affiliations: list[str] = Field(default_factory=list,
                                    description="Institutions and employers they are tied to")


@contract("assessment")
class AssessmentScheduled(Event):
    """An independent body will assess the eligible trainees of a completed class."""

    assessment_id: str
    body_id: str
    class_id: str
    occupation_code: OccupationCode
    level: SkillLevel
    assessor_ids: list[str]
    candidate_ids: list[str] = Field(description="worker ids")
    scheduled_on: date


@contract("assessment")
class AssessmentResultRecorded(Event):
    """A candidate's theory and practical scores, and whether they passed."""

    result_id: str
    assessment_id: str
    worker_id: str
    theory_score: int = Field(ge=0, le=100)
    practical_score: int = Field(ge=0, le=100)
    passed: bool


@contract("assessment")
class AssessmentResultVoided(Event):
    """A result no longer counts (a correction); its certificate, if any, is revoked."""

    result_id: str
    assessment_id: str
    worker_id: str
    reason: str


@contract("assessment")
class SkillLevelCertified(Event):
    """An independent body certified a worker's skill level in an occupation."""

    certificate_id: str
    certificate_number: str
    worker_id: str
    occupation_code: OccupationCode
    level: SkillLevel
    body_id: str
    assessment_id: str
    class_id: str
    certified_on: date


@contract("assessment")
class CertificationRevoked(Event):
    """A certificate was withdrawn, with the reason; subsidies paid on it are reversed."""

    certificate_id: str
    certificate_number: str
    worker_id: str
    occupation_code: OccupationCode
    level: SkillLevel
    class_id: str
    reason: str
    revoked_on: date
