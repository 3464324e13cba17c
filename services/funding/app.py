"""Funding's composition root: policy, budget, the ledger derived from the event log,
disbursement."""

from __future__ import annotations

from pathlib import Path

from services.funding.api import router
from services.funding.commands import COMMANDS
from services.funding.consumers import INPUTS
from services.funding.jobs import run_jobs
from services.funding.metrics import funding_metrics
from services.funding.read_models import fill_on_start, project
from services.funding.settings import FundingSettings
from services.funding.test_clock import router as test_clock_router
from shared.runtime.service import ServiceSpec

SPEC = ServiceSpec(
    name="funding",
    title="Songji funding",
    description="Subsidy payouts derived purely from the event log: the training subsidy to "
                "the institution, the living subsidy to each trainee, from named funds; "
                "public notice, objections, bank instruction and payment as events.",
    routers=[router, test_clock_router],
    migrations=Path(__file__).parent / "migrations",
    subscriptions=[INPUTS],
    settings_class=FundingSettings,
    commands=COMMANDS,
    projection=project,
    background=[fill_on_start, run_jobs],
    metrics=funding_metrics,
)
