"""The test clock: in a rehearsal or a demonstration, the HR bureau moves funding's 'today'
forward, so that a public notice of five working days can end in minutes.

Off unless ``SONGJI_TEST_CLOCK`` is set. It only moves forward, and only the dates funding
decides with (approval, notice, objections, instruction, confirmation) follow it; the ledger
does not depend on it, since it is derived from the recorded events alone.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter
from pydantic import BaseModel, Field

from services.funding import handlers
from services.funding.access import MANAGE, require_role
from services.funding.settings import FundingSettings
from shared.auth.http import REFUSALS, Acting
from shared.runtime.errors import NotFound
from shared.runtime.service import Context, ServiceContext

router = APIRouter(prefix="/test-clock", tags=["test clock"], responses=REFUSALS)


class Advance(BaseModel):
    days: int = Field(ge=1, le=366, description="Whole days to move 'today' forward")


class ClockOut(BaseModel):
    enabled: bool
    today: date
    days_ahead: int


def _clock(ctx: ServiceContext) -> ClockOut:
    enabled = isinstance(ctx.settings, FundingSettings) and ctx.settings.test_clock
    return ClockOut(enabled=enabled, today=handlers.today(ctx),
                    days_ahead=handlers.days_ahead(ctx))


@router.get("", response_model=ClockOut, summary="Funding's 'today' and whether it may move")
async def get_clock(ctx: Context, _: Acting) -> ClockOut:
    return _clock(ctx)


@router.post("", response_model=ClockOut,
             responses={404: {"description": "The test clock is not enabled"}},
             summary="Move funding's 'today' forward (HR bureau; rehearsals only)")
async def advance(body: Advance, ctx: Context, org: Acting) -> ClockOut:
    require_role(org, MANAGE, "move_the_test_clock")
    settings = ctx.settings
    if not (isinstance(settings, FundingSettings) and settings.test_clock):
        raise NotFound("test_clock_disabled",
                       "The test clock is off here (SONGJI_TEST_CLOCK); dates are real.")
    settings.days_ahead += body.days
    return _clock(ctx)
