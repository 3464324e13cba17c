"""Employment's composition root: vacancies, matching, referrals, placements, follow-ups."""

from __future__ import annotations

from pathlib import Path

from services.employment import projections, test_clock
from services.employment.api import router
from services.employment.builder import build_matches
from services.employment.commands import COMMANDS
from services.employment.consumers import INSTITUTIONS, WORKERS
from services.employment.settings import EmploymentSettings
from shared.runtime.service import ServiceSpec

SPEC = ServiceSpec(
    name="employment",
    title="Songji employment",
    description="After the certificate (推荐就业): vacancies at the destinations, certified "
                "workers matched and referred with their consent, placements and their "
                "follow-ups at 1, 3 and 6 months (稳岗增收), and the outcomes.",
    routers=[router, test_clock.router],
    migrations=Path(__file__).parent / "migrations",
    subscriptions=[WORKERS, INSTITUTIONS],
    settings_class=EmploymentSettings,
    commands=COMMANDS,
    projection=projections.project,
    background=[build_matches],
)
