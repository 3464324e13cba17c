from services.training.domain.catalogue import (
    SEED_OCCUPATIONS,
    catalogue_by_code,
    is_shortage,
    shortage_occupations,
)
from shared.contracts.common import WorkSite
from tests.unit.builders import FUKANG, PUTUO


def test_the_catalogue_holds_the_articles_occupations_with_both_names():
    codes = {o.code for o in SEED_OCCUPATIONS}
    assert {"electrician", "domestic_helper", "maternity_nurse", "elderly_care_worker",
            "childcare_worker", "conveyor_operator", "refrigeration_ac_repair", "welder",
            "crop_grower", "crop_protection_worker"} <= codes
    for occupation in SEED_OCCUPATIONS:
        assert occupation.name_zh and occupation.name_en
        assert occupation.levels and occupation.levels <= {1, 2, 3, 4, 5}
        assert occupation.offers(5)


def test_codes_are_unique():
    assert len(catalogue_by_code()) == len(SEED_OCCUPATIONS)


def test_destination_demand_maps_a_site_to_its_shortage_occupations():
    assert shortage_occupations(FUKANG) == {"electrician", "welder", "crop_grower",
                                            "crop_protection_worker"}
    assert is_shortage(PUTUO, "maternity_nurse")
    assert not is_shortage(PUTUO, "welder")


def test_a_site_without_a_market_survey_has_no_shortages():
    assert shortage_occupations(WorkSite(province="广东", city="东莞市", site_name="x")) == set()
