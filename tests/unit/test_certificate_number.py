import pytest

from services.assessment.domain.certificate_number import certificate_number, is_well_formed


def test_the_number_is_deterministic_from_body_year_and_sequence():
    assert certificate_number("YNSK", 2025, 7) == certificate_number("YNSK", 2025, 7)
    numbers = {certificate_number(body, year, seq) for body in ("YNSK", "XJSK")
               for year in (2025, 2026) for seq in range(1, 50)}
    assert len(numbers) == 2 * 2 * 49


def test_a_mistyped_number_fails_its_check_digits():
    number = certificate_number("YNSK", 2025, 123)
    assert is_well_formed(number)
    typo = number.replace("000123", "000132")
    assert not is_well_formed(typo)
    assert not is_well_formed("not a number")


@pytest.mark.parametrize("sequence", [0, 1_000_000])
def test_the_sequence_is_bounded(sequence):
    with pytest.raises(ValueError):
        certificate_number("YNSK", 2025, sequence)
