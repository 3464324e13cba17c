"""The 18-digit resident identity number (GB 11643-1999): check digit, birth date, gender.

Pure code: no I/O. The number itself never leaves enrolment's encrypted store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"


class InvalidNationalId(ValueError):
    pass


def check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character over the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


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
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidNationalId("birth date inside the number is not a real date") from None
    gender: Literal["female", "male"] = "male" if int(number[16]) % 2 else "female"
    return NationalId(number=number, birth_date=birth, gender=gender)
