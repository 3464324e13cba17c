"""Funding's 'today', and the test clock: in a rehearsal or a demonstration, the HR bureau
moves it forward, so that a public notice of five working days can end in minutes.

Off unless ``SONGJI_TEST_CLOCK`` is set. It only moves forward, and only the dates funding
decides with (approval, notice, objections, instruction, confirmation) follow it; the ledger
does not depend on it, since it is derived from the recorded events alone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from fastapi import APIRouter
from pydantic import BaseModel, Field

from services.funding.settings import FundingContext, FundingSettings
from shared.auth.http import REFUSALS, Acting
from shared.auth.policy import Action, require
from shared.runtime.errors import NotFound

router = APIRouter(prefix="/test-clock", tags=["test clock"], responses=REFUSALS)


def today(settings: FundingSettings) -> date:
    """The local date funding decides with: the real one, moved ahead by the test clock."""
    local = timezone(timedelta(hours=settings.local_utc_offset_hours))
    return datetime.now(UTC).astimezone(local).date() + timedelta(days=days_ahead(settings))


def days_ahead(settings: FundingSettings) -> int:
    """Days the test clock moved 'today' ahead; always 0 unless the test clock is enabled."""
    return settings.days_ahead if settings.test_clock else 0


class Advance(BaseModel):
    days: int = Field(ge=1, le=366, description="Whole days to move 'today' forward")


class ClockOut(BaseModel):
    enabled: bool
    today: date
    days_ahead: int


def _clock(settings: FundingSettings) -> ClockOut:
    return ClockOut(enabled=settings.test_clock, today=today(settings),
                    days_ahead=days_ahead(settings))


@router.get("", response_model=ClockOut, summary="Funding's 'today' and whether it may move")
async def get_clock(ctx: FundingContext, org: Acting) -> ClockOut:
    require(org, Action.VIEW_TEST_CLOCK)
    return _clock(ctx.settings)


# Not a command through the pipeline: it appends no event and writes nothing that lasts (the
# clock is this process's memory, gone at a restart), so there is nothing to keep once under
# an Idempotency-Key either.
@router.post("", response_model=ClockOut,
             responses={404: {"description": "The test clock is not enabled"}},
             summary="Move funding's 'today' forward (HR bureau; rehearsals only)")
async def advance(body: Advance, ctx: FundingContext, org: Acting) -> ClockOut:
    require(org, Action.MOVE_TEST_CLOCK)
    settings = ctx.settings
    if not settings.test_clock:
        raise NotFound("test_clock_disabled",
                       "The test clock is off here (SONGJI_TEST_CLOCK); dates are real.")
    settings.days_ahead += body.days
    return _clock(settings)
