"""Value types shared by several contracts."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

SkillLevel = Annotated[int, Field(ge=1, le=5, description="5 初级工 basic ... 1 高级技师")]
ClassMode = Literal["weekend", "night", "full_time"]
SessionKind = Literal["online_theory", "classroom_theory", "practical_on_the_job", "field"]
CheckInMethod = Literal["face_check", "online_platform_log", "on_the_job_sign_off"]
OccupationCode = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]

# A wall-clock time without an offset, as events carry it: "19:30:00" (ISO 8601 extended, with
# fractions of a second only when there are any). JSON Schema's ``format: time`` is RFC 3339's
# full-time, which requires an offset, so the schema states the pattern the values really meet.
LOCAL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?$"


def _without_offset(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a local time carries no offset; the zone is Asia/Shanghai")
    return value


LocalTime = Annotated[
    time,
    AfterValidator(_without_offset),
    WithJsonSchema({"type": "string", "pattern": LOCAL_TIME_PATTERN,
                    "maxLength": len("23:59:59.999999")}),
]


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
