"""What a liaison station asks enrolment to do. Malformed input fails here, as a 422.

The personal fields (name, national ID number, mobile) are kept out of ``repr`` so that a
command printed in a log or a traceback does not leak them.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.enrolment.domain.national_id import InvalidNationalId, NationalId, parse_national_id
from shared.contracts.bounds import MAX_CHOICES, Id
from shared.contracts.common import ClassMode, OccupationCode, WageBand, WorkSite

# Mainland mobile numbers: 11 digits, starting 13x..19x.
MOBILE_PATTERN = re.compile(r"^1[3-9]\d{9}$")


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class RegisterWorker(_Command):
    # A validation error's text must not carry a national ID number or phone into a log.
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True,
                              hide_input_in_errors=True)

    name: str = Field(min_length=1, max_length=60, repr=False)
    national_id: str = Field(repr=False, max_length=32,
                             description="18-digit resident identity number")
    mobile: str = Field(repr=False, max_length=32,
                        description="Mainland mobile number, 11 digits")
    hometown_county: str = Field(min_length=1, max_length=60)
    hometown_township: str = Field(min_length=1, max_length=60)
    household_county: str = Field(min_length=1, max_length=60,
                                  description="County of the household registration (户籍)")
    work_site: WorkSite
    employer: str = Field(min_length=1, max_length=200)
    preferred_language: Literal["zh-CN", "en"] = Field(
        "zh-CN", description="Language of the messages the worker receives")
    contact_window: str | None = Field(
        None, max_length=11, pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$",
        description="When non-urgent messages may reach the worker, Asia/Shanghai time, "
                    "e.g. 09:00-18:00 for a night-shift worker")

    @field_validator("national_id")
    @classmethod
    def _valid_national_id(cls, value: str) -> str:
        try:
            return parse_national_id(value).number
        except InvalidNationalId as exc:
            # The message says what is wrong, never echoes the number.
            raise ValueError(f"not a valid national ID number: {exc}") from None

    @field_validator("mobile")
    @classmethod
    def _valid_mobile(cls, value: str) -> str:
        if not MOBILE_PATTERN.fullmatch(value):
            raise ValueError("not a mainland mobile number (11 digits starting 13..19)")
        return value

    @property
    def identity(self) -> NationalId:
        return parse_national_id(self.national_id)


class RecordIntakeSurvey(_Command):
    worker_id: Id
    desired_occupations: list[OccupationCode] = Field(min_length=1, max_length=10)
    availability: list[ClassMode] = Field(min_length=1, max_length=MAX_CHOICES)
    earliest_start: date
    current_wage_band: WageBand | None = None


class Enrol(_Command):
    worker_id: Id
    class_id: Id


class Withdraw(_Command):
    """Names the enrolment only: whose it is, is looked up (a station knows the enrolment id
    it was given, and a worker id it sent would be one more thing to check against it)."""

    enrolment_id: Id
    reason: str = Field(min_length=1, max_length=500)
