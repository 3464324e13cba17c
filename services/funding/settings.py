from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends
from pydantic import Field

from services.funding.domain.notice_calendar import WorkingCalendar, state_council_working_day
from shared.runtime.service import ServiceContext, context
from shared.runtime.settings import ServiceSettings


class FundingSettings(ServiceSettings):
    official_holidays: bool = Field(
        True, description="Count the public notice's working days by the State Council's "
                          "holidays and make-up days as the chinesecalendar package carries "
                          "them (SONGJI_OFFICIAL_HOLIDAYS); the two lists below then decide "
                          "only for years the package does not know yet")
    holidays: list[date] = Field(
        default_factory=list,
        description="Public holidays skipped by the public notice, for years the official "
                    "calendar does not know (SONGJI_HOLIDAYS, a JSON list of dates)")
    makeup_working_days: list[date] = Field(
        default_factory=list,
        description="Weekend days worked instead (调休), for years the official calendar does "
                    "not know (SONGJI_MAKEUP_WORKING_DAYS)")
    local_utc_offset_hours: int = Field(8, description="Local time for 'today' (Asia/Shanghai)")
    test_clock: bool = Field(
        False, description="Rehearsals and demonstrations only (SONGJI_TEST_CLOCK): the HR "
                           "bureau may move funding's 'today' forward with POST /test-clock, so "
                           "a public notice can run its five working days in minutes. Never "
                           "enable it where real money moves.")
    days_ahead: int = Field(
        0, ge=0, description="How far funding's 'today' is ahead of the real date; only "
                             "with the test clock (SONGJI_DAYS_AHEAD, or POST /test-clock)")

    recompute_chunk_workers: int = Field(
        500, ge=1, le=100_000,
        description="Workers whose lines a recompute job re-derives per transaction "
                    "(SONGJI_RECOMPUTE_CHUNK_WORKERS): the ledger lock is held for one chunk "
                    "at a time, so reads and commands wait at most that long")
    recompute_poll_seconds: float = Field(
        0.25, gt=0, le=60,
        description="How often the job runner looks for a queued job when it has none "
                    "(SONGJI_RECOMPUTE_POLL_SECONDS)")

    recompute_in_worker_process: bool = Field(
        True, description="Run a recompute job's chunks in a process of their own at the "
                          "lowest CPU priority (SONGJI_RECOMPUTE_IN_WORKER_PROCESS), so that "
                          "their CPU does not share the interpreter with the reads; off: in "
                          "the service's own process (parsing and settling in a thread)")
    recompute_pause_ratio: float = Field(
        0.0, ge=0, le=100,
        description="After each chunk of a recompute job, a pause of this many times the "
                    "chunk's own duration (SONGJI_RECOMPUTE_PAUSE_RATIO): the job takes "
                    "(1 + ratio) times as long, and leaves the database and the CPU to "
                    "reads and commands for that share of the time")

    def calendar(self) -> WorkingCalendar:
        """The working days the public notice counts."""
        return WorkingCalendar.of(
            self.holidays, self.makeup_working_days,
            official=state_council_working_day if self.official_holidays else None)


# Funding's routes get its context with its own settings, typed.
FundingContext = Annotated[ServiceContext[FundingSettings], Depends(context)]
