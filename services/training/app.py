"""Training's composition root: occupations, institutions, class runs, attendance."""

from __future__ import annotations

from pathlib import Path

from services.training import projections
from services.training.api import router
from services.training.commands import COMMANDS
from services.training.consumers import ROSTER
from services.training.settings import TrainingSettings
from shared.runtime.service import ServiceSpec

SPEC = ServiceSpec(
    name="training",
    title="Songji training",
    description="The HR bureau accredits institutions and approves their classes; institutions "
                "schedule weekend, night and full-time classes, record attendance and complete "
                "them.",
    routers=[router],
    migrations=Path(__file__).parent / "migrations",
    subscriptions=[ROSTER],
    settings_class=TrainingSettings,
    commands=COMMANDS,
    projection=projections.project,
)
