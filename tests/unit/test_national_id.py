from datetime import date

import pytest

from services.enrolment.domain.national_id import (
    InvalidNationalId,
    check_digit,
    parse_national_id,
)


def test_check_digit_of_the_standards_example():
    assert check_digit("11010519491231002") == "X"


def test_parse_reads_birth_date_gender_and_region():
    parsed = parse_national_id("11010519491231002x")
    assert (parsed.birth_date, parsed.gender, parsed.region_code) == \
        (date(1949, 12, 31), "female", "110105")


@pytest.mark.parametrize("bad", ["110105194912310021", "1101051949123100", "11010519491331002X"])
def test_wrong_numbers_are_refused(bad):
    with pytest.raises(InvalidNationalId):
        parse_national_id(bad)
