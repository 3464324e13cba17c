"""Employment's 'today' on the test clock: in a rehearsal or a demonstration the HR bureau
moves it forward, so a placement's 3-month follow-up falls due in minutes. Off unless
``SONGJI_TEST_CLOCK`` is set; it only moves forward, and is this process's memory (a restart
forgets it), like funding's."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter
from pydantic import BaseModel, Field

from services.employment.settings import EmploymentContext, EmploymentSettings
from shared.auth.http import REFUSALS, Acting
from shared.auth.policy import Action, require
from shared.runtime.errors import NotFound

router = APIRouter(prefix="/test-clock", tags=["test clock"], responses=REFUSALS)


class Advance(BaseModel):
    days: int = Field(ge=1, le=366, description="Whole days to move 'today' forward")


class ClockOut(BaseModel):
    enabled: bool
    today: date
    days_ahead: int


def _clock(settings: EmploymentSettings) -> ClockOut:
    return ClockOut(enabled=settings.test_clock, today=settings.today(),
                    days_ahead=settings.days_ahead if settings.test_clock else 0)


@router.get("", response_model=ClockOut, summary="Employment's 'today' and whether it may move")
async def get_clock(ctx: EmploymentContext, org: Acting) -> ClockOut:
    require(org, Action.VIEW_TEST_CLOCK)
    return _clock(ctx.settings)


@router.post("", response_model=ClockOut,
             responses={404: {"description": "The test clock is not enabled"}},
             summary="Move employment's 'today' forward (HR bureau; rehearsals only)")
async def advance(body: Advance, ctx: EmploymentContext, org: Acting) -> ClockOut:
    require(org, Action.MOVE_TEST_CLOCK)
    settings = ctx.settings
    if not settings.test_clock:
        raise NotFound("test_clock_disabled",
                       "The test clock is off here (SONGJI_TEST_CLOCK); dates are real.")
    settings.days_ahead += body.days
    return _clock(settings)
