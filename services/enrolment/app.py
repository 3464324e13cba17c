"""Enrolment's composition root: workers, intake surveys, enrolments."""

from __future__ import annotations

from pathlib import Path

from services.enrolment import projections
from services.enrolment.api import router
from services.enrolment.commands import COMMANDS
from services.enrolment.consumers import CLASSES_AND_CERTIFICATES, PAYMENTS
from services.enrolment.settings import EnrolmentSettings
from shared.runtime.service import ServiceSpec

SPEC = ServiceSpec(
    name="enrolment",
    title="Songji enrolment",
    description="Liaison stations register workers (personal data sealed here, never on the "
                "bus), record intake surveys and enrol workers in classes.",
    routers=[router],
    migrations=Path(__file__).parent / "migrations",
    subscriptions=[CLASSES_AND_CERTIFICATES, PAYMENTS],
    settings_class=EnrolmentSettings,
    commands=COMMANDS,
    projection=projections.project,
)
