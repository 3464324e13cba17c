"""The 18-digit resident identity number (GB 11643-1999): check digit, birth date, gender.

The check character (ISO 7064 MOD 11-2) and the birth date come from python-stdnum's
``stdnum.cn.ric``. Its full ``validate`` also looks the region code up in its table of counties
as they were in the birth year; that is not applied, because a code assigned after someone's
birth (registration, a county renamed) would refuse a real person.

Pure code: no I/O. The number itself never leaves enrolment's encrypted store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from stdnum.cn import ric
from stdnum.exceptions import ValidationError


class InvalidNationalId(ValueError):
    pass


def check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character over the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise InvalidNationalId("must be 17 digits followed by a digit or X")
    return ric.calc_check_digit(first17 + "?")  # it reads the 17 digits before the last


@dataclass(frozen=True, slots=True)
class NationalId:
    number: str
    birth_date: date
    gender: Literal["female", "male"]

    @property
    def region_code(self) -> str:
        return self.number[:6]


def parse_national_id(raw: str) -> NationalId:
    """Validate and read an 18-digit ID number; raise InvalidNationalId saying what is wrong."""
    number = raw.strip().upper()
    if len(number) != 18 or not number[:17].isdigit() or not (number[17].isdigit()
                                                              or number[17] == "X"):
        raise InvalidNationalId("must be 17 digits followed by a digit or X")
    if check_digit(number[:17]) != number[17]:
        raise InvalidNationalId("check digit does not match (GB 11643)")
    try:
        birth = ric.get_birth_date(number)
    except ValidationError:
        raise InvalidNationalId("birth date inside the number is not a real date") from None
    gender: Literal["female", "male"] = "male" if int(number[16]) % 2 else "female"
    return NationalId(number=number, birth_date=birth, gender=gender)
