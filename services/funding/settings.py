from __future__ import annotations

from datetime import date

from pydantic import Field

from shared.runtime.settings import ServiceSettings


class FundingSettings(ServiceSettings):
    holidays: list[date] = Field(
        default_factory=list,
        description="Public holidays skipped by the public notice (SONGJI_HOLIDAYS, a JSON "
                    "list of dates)")
    makeup_working_days: list[date] = Field(
        default_factory=list,
        description="Weekend days worked instead (调休) (SONGJI_MAKEUP_WORKING_DAYS)")
    local_utc_offset_hours: int = Field(8, description="Local time for 'today' (Asia/Shanghai)")
