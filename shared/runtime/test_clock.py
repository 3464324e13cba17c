"""A service's test clock: in a rehearsal or a demonstration the HR bureau moves the service's
'today' forward (a public notice of five working days, a 3-month follow-up), so that they end
in minutes. Off unless the service's settings turn it on (``SONGJI_TEST_CLOCK``); it only
moves forward, and it is the process's memory: a restart forgets it, and each copy of a
service keeps its own. Not a command through the pipeline: it appends no event and writes
nothing that lasts, so there is nothing to keep under an Idempotency-Key either."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from shared.auth.http import REFUSALS, Acting
from shared.auth.policy import Action, require
from shared.runtime.errors import NotFound
from shared.runtime.service import ServiceContext, context

# At module level: FastAPI resolves the routes' annotations (strings here) in this module.
Context = Annotated[ServiceContext[Any], Depends(context)]


class ClockSettings(Protocol):
    test_clock: bool
    days_ahead: int


class Advance(BaseModel):
    days: int = Field(ge=1, le=366, description="Whole days to move 'today' forward")


class ClockOut(BaseModel):
    enabled: bool
    today: date
    days_ahead: int


def days_ahead(settings: ClockSettings) -> int:
    """Days the test clock moved 'today' ahead; always 0 unless the test clock is enabled."""
    return settings.days_ahead if settings.test_clock else 0


def test_clock_router(service: str, today: Callable[[Any], date]) -> APIRouter:
    """``GET`` and ``POST /test-clock`` for ``service``, whose 'today' is ``today(settings)``."""
    router = APIRouter(prefix="/test-clock", tags=["test clock"], responses=REFUSALS)

    def clock(settings: ClockSettings) -> ClockOut:
        return ClockOut(enabled=settings.test_clock, today=today(settings),
                        days_ahead=days_ahead(settings))

    @router.get("", response_model=ClockOut,
                summary=f"{service.capitalize()}'s 'today' and whether it may move")
    async def get_clock(ctx: Context, org: Acting) -> ClockOut:
        require(org, Action.VIEW_TEST_CLOCK)
        return clock(ctx.settings)

    @router.post("", response_model=ClockOut,
                 responses={404: {"description": "The test clock is not enabled"}},
                 summary=f"Move {service}'s 'today' forward (HR bureau; rehearsals only)")
    async def advance(body: Advance, ctx: Context, org: Acting) -> ClockOut:
        require(org, Action.MOVE_TEST_CLOCK)
        settings = ctx.settings
        if not settings.test_clock:
            raise NotFound("test_clock_disabled",
                           "The test clock is off here (SONGJI_TEST_CLOCK); dates are real.")
        settings.days_ahead += body.days
        return clock(settings)

    return router
