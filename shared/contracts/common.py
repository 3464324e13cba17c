"""Value types shared by several contracts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

SkillLevel = Annotated[int, Field(ge=1, le=5, description="5 初级工 basic ... 1 高级技师")]
ClassMode = Literal["weekend", "night", "full_time"]
SessionKind = Literal["online_theory", "classroom_theory", "practical_on_the_job", "field"]
CheckInMethod = Literal["face_check", "online_platform_log", "on_the_job_sign_off"]
OccupationCode = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]


class WorkSite(BaseModel):
    """Where workers work and classes run, e.g. Xinjiang / Fukang / a site name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    province: str = Field(min_length=1, max_length=40)
    city: str = Field(min_length=1, max_length=40, description="City or district")
    site_name: str = Field(min_length=1, max_length=80)


WageBand = Literal["under_3000", "3000_to_4999", "5000_to_6999", "7000_to_8999", "9000_and_over"]
"""A monthly wage in yuan, as a band: what a worker is asked at intake (no exact figure)."""
WAGE_BANDS: tuple[WageBand, ...] = ("under_3000", "3000_to_4999", "5000_to_6999", "7000_to_8999",
                                    "9000_and_over")
