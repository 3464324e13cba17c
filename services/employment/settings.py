from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import Depends
from pydantic import Field

from shared.calendar import programme_today
from shared.runtime.service import ServiceContext, context
from shared.runtime.settings import ServiceSettings


class EmploymentSettings(ServiceSettings):
    smallest_group: int = Field(
        5, ge=1, le=1000,
        description="Outcome statistics show a group's figures only when at least this many "
                    "workers were referred in it (SONGJI_SMALLEST_GROUP); a smaller group is "
                    "answered as suppressed, so no one worker's outcome can be read off it")
    test_clock: bool = Field(
        False, description="Rehearsals and demonstrations only (SONGJI_TEST_CLOCK): the HR "
                           "bureau may move employment's 'today' forward with POST /test-clock, "
                           "so a 3-month follow-up can fall due in minutes")
    days_ahead: int = Field(
        0, ge=0, description="How far employment's 'today' is ahead of the real date; only "
                             "with the test clock (SONGJI_DAYS_AHEAD, or POST /test-clock)")

    def today(self) -> date:
        """The programme's date (China) the service decides with, moved by the test clock."""
        return programme_today() + timedelta(days=self.days_ahead if self.test_clock else 0)


EmploymentContext = Annotated[ServiceContext[EmploymentSettings], Depends(context)]
