"""The GB 11643 check through python-stdnum (``stdnum.cn.ric``) agrees with the hand-written
check it replaced, on random numbers: the check character, and what parsing accepts, reads
and refuses. The replaced code is kept here, as the reference the library is held to."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric

from services.enrolment.domain import national_id
from services.enrolment.domain.national_id import InvalidNationalId, parse_national_id
from songji.demo import scenario

# The hand-written check as it was in enrolment and in the demo: ISO 7064 MOD 11-2 with
# the standard's weights.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def reference_check_digit(first17: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def reference_parse(raw: str) -> tuple[str, date, str] | None:
    number = raw.strip().upper()
    if len(number) != 18 or not number[:17].isdigit() or not (number[17].isdigit()
                                                              or number[17] == "X"):
        return None
    if reference_check_digit(number[:17]) != number[17]:
        return None
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None
    return number, born, "male" if int(number[16]) % 2 else "female"


def parsed(raw: str) -> tuple[str, date, str] | None:
    try:
        found = parse_national_id(raw)
    except InvalidNationalId:
        return None
    return found.number, found.birth_date, found.gender


first17s = st.text(alphabet="0123456789", min_size=17, max_size=17)


@given(first17s)
def test_the_check_character_agrees(first17: str) -> None:
    assert national_id.check_digit(first17) == reference_check_digit(first17)
    assert scenario.check_digit(first17) == reference_check_digit(first17)
    assert ric.calc_check_digit(first17 + "?") == reference_check_digit(first17)


@st.composite
def plausible_numbers(draw: st.DrawFn) -> str:
    """Mostly well-formed numbers with a real or nearly real birth date, some with a wrong
    check character, some in lower case or with spaces around."""
    region = draw(st.text(alphabet="0123456789", min_size=6, max_size=6))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)))
    day = draw(st.one_of(st.just(f"{born:%Y%m%d}"),
                         st.text(alphabet="0123456789", min_size=8, max_size=8)))
    order = draw(st.text(alphabet="0123456789", min_size=3, max_size=3))
    first17 = region + day + order
    last = draw(st.one_of(st.just(reference_check_digit(first17)),
                          st.sampled_from("0123456789Xx")))
    return draw(st.sampled_from(["", " "])) + first17 + last


@given(st.one_of(plausible_numbers(), st.text(alphabet="0123456789Xx -", max_size=20)))
def test_parsing_accepts_reads_and_refuses_the_same_numbers(raw: str) -> None:
    assert parsed(raw) == reference_parse(raw)
