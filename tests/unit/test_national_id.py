from datetime import date

import pytest

from services.enrolment.domain.national_id import (
    InvalidNationalId,
    check_digit,
    parse_national_id,
)

# A well-known sample number from the standard's examples: 11010519491231002X
SAMPLE = "11010519491231002X"


def test_check_digit_of_the_standard_sample() -> None:
    assert check_digit(SAMPLE[:17]) == "X"


def test_parse_reads_birth_date_and_gender() -> None:
    parsed = parse_national_id(SAMPLE.lower())
    assert parsed.number == SAMPLE
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.gender == "female"  # 17th digit 2 is even
    assert parsed.region_code == "110105"


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("110105194912310021", "check digit"),
        ("1101051949123100", "17 digits"),
        ("11010519491331002X", "check digit"),
    ],
)
def test_bad_numbers_are_refused(number: str, why: str) -> None:
    with pytest.raises(InvalidNationalId, match=why):
        parse_national_id(number)


def test_impossible_birth_date_is_refused() -> None:
    first17 = "53012819990231001"  # 31 February
    with pytest.raises(InvalidNationalId, match="not a real date"):
        parse_national_id(first17 + check_digit(first17))
