"""Assessment's composition root: bodies, assessors, assessments, results, certificates."""

from __future__ import annotations

from pathlib import Path

from services.assessment import projections
from services.assessment.api import router
from services.assessment.commands import COMMANDS
from services.assessment.consumers import CLASSES
from services.assessment.settings import AssessmentSettings
from shared.runtime.service import ServiceSpec

SPEC = ServiceSpec(
    name="assessment",
    title="Songji assessment",
    description="Independent bodies assess the trainees of completed classes (考培分离) and "
                "certify their skill level; results can be voided, certificates revoked.",
    routers=[router],
    migrations=Path(__file__).parent / "migrations",
    subscriptions=[CLASSES],
    settings_class=AssessmentSettings,
    commands=COMMANDS,
    projection=projections.project,
)
