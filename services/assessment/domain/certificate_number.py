"""Certificate numbers: deterministic from what is passed in, so the domain stays pure.

``<BODY>-<YEAR>-<SEQUENCE>-<CC>``: the body's code, the year of certification, the body's
running sequence that year (a result's look-up hands out the next one; a unique index backs
it), and two ISO 7064 MOD 97-10 check digits so a mistyped number is caught when someone
verifies it.
"""

from __future__ import annotations

import re

_FORMAT = re.compile(r"^(?P<body>[A-Z0-9]{2,12})-(?P<year>\d{4})-(?P<seq>\d{6})-(?P<check>\d{2})$")


def _digits(body_code: str, year: int, sequence: int) -> int:
    # Letters count as 10..35, as in IBAN, so the body code is covered by the check too.
    text = "".join(str(int(c, 36)) for c in body_code) + f"{year:04d}{sequence:06d}"
    return int(text)


def check_digits(body_code: str, year: int, sequence: int) -> str:
    return f"{98 - (_digits(body_code, year, sequence) * 100) % 97:02d}"


def certificate_number(body_code: str, year: int, sequence: int) -> str:
    if not 1 <= sequence <= 999_999:
        raise ValueError("certificate sequence must be 1..999999")
    return f"{body_code}-{year:04d}-{sequence:06d}-{check_digits(body_code, year, sequence)}"


def is_well_formed(number: str) -> bool:
    match = _FORMAT.fullmatch(number)
    if match is None:
        return False
    body, year, seq = match["body"], int(match["year"]), int(match["seq"])
    return match["check"] == check_digits(body, year, seq)
