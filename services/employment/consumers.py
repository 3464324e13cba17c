"""What employment consumes: who a worker is (pseudonymous facts), what they said at intake,
and what they are certified in. Only the fields matching and the outcomes need are kept."""

from __future__ import annotations

from services.employment import projections
from shared.contracts.assessment import CertificationRevoked, SkillLevelCertified
from shared.contracts.enrolment import IntakeSurveyRecorded, WorkerRegistered
from shared.contracts.training import (
    InstitutionAccredited,
    InstitutionReinstated,
    InstitutionSuspended,
)
from shared.runtime.service import Subscription

WORKERS = Subscription(
    name="workers",
    services=["enrolment", "assessment"],
    handlers={WorkerRegistered: projections.worker_registered,
              IntakeSurveyRecorded: projections.intake_survey_recorded,
              SkillLevelCertified: projections.skill_level_certified,
              CertificationRevoked: projections.certification_revoked},
    description="Keeps each worker's gender and work site, availability and wage band, and "
                "live certificates (occupation, level), for matching and the outcomes; each "
                "scores the worker again against the open vacancies they may fit.",
)

INSTITUTIONS = Subscription(
    name="institutions",
    services=["training"],
    handlers={InstitutionAccredited: projections.institution_accredited,
              InstitutionSuspended: projections.institution_suspended,
              InstitutionReinstated: projections.institution_reinstated},
    description="Keeps which institutions are accredited, in what occupations, and whether "
                "they are suspended: a training order is planned only with one that may teach.",
)
