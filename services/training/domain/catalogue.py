"""The occupation catalogue and what each destination is short of, as seed data.

These are data, not rules: the HR bureau changes them without a code change, so every
function here takes the catalogue or the demand table as an argument and the seeds are
only defaults.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shared.contracts.common import WorkSite


@dataclass(frozen=True, slots=True)
class Occupation:
    code: str
    name_zh: str
    name_en: str
    levels: frozenset[int]  # 5 初级工 ... 1 高级技师

    def offers(self, level: int) -> bool:
        return level in self.levels


_BASIC_TO_ADVANCED = frozenset({5, 4, 3})

SEED_OCCUPATIONS: tuple[Occupation, ...] = (
    Occupation("electrician", "电工", "Electrician", frozenset({5, 4, 3, 2, 1})),
    Occupation("domestic_helper", "家政服务员", "Domestic helper", _BASIC_TO_ADVANCED),
    Occupation("maternity_nurse", "母婴护理员（月嫂）", "Maternity nurse", _BASIC_TO_ADVANCED),
    Occupation("elderly_care_worker", "养老护理员", "Elderly-care worker",
               frozenset({5, 4, 3, 2, 1})),
    Occupation("childcare_worker", "保育师", "Childcare worker", _BASIC_TO_ADVANCED),
    Occupation("conveyor_operator", "输送机操作工", "Conveyor operator", _BASIC_TO_ADVANCED),
    Occupation("refrigeration_ac_repair", "制冷空调系统安装维修工",
               "Refrigeration and air-conditioning repair", frozenset({5, 4, 3, 2, 1})),
    Occupation("welder", "焊工", "Welder", frozenset({5, 4, 3, 2, 1})),
    Occupation("crop_grower", "农作物种植技术员", "Crop grower", _BASIC_TO_ADVANCED),
    Occupation("crop_protection_worker", "农作物植保员", "Crop protection worker",
               _BASIC_TO_ADVANCED),
)


@dataclass(frozen=True, slots=True)
class Destination:
    """A destination region, matched on province and city/district (any site within it)."""

    province: str
    city: str

    def covers(self, site: WorkSite) -> bool:
        return site.province == self.province and site.city == self.city


# From the market surveys in the article: what each destination is short of.
SEED_DEMAND: Mapping[Destination, frozenset[str]] = {
    Destination("上海", "普陀区"): frozenset(
        {"electrician", "domestic_helper", "maternity_nurse", "elderly_care_worker",
         "childcare_worker"}),
    Destination("安徽", "芜湖市湾沚区"): frozenset(
        {"conveyor_operator", "refrigeration_ac_repair"}),
    Destination("新疆", "阜康市"): frozenset(
        {"electrician", "welder", "crop_grower", "crop_protection_worker"}),
}


def catalogue_by_code(occupations: Iterable[Occupation] = SEED_OCCUPATIONS
                      ) -> dict[str, Occupation]:
    return {o.code: o for o in occupations}


def shortage_occupations(site: WorkSite,
                         demand: Mapping[Destination, frozenset[str]] = SEED_DEMAND
                         ) -> frozenset[str]:
    """Occupations the destination around ``site`` is short of (empty when it has no survey)."""
    found: set[str] = set()
    for destination, codes in demand.items():
        if destination.covers(site):
            found |= codes
    return frozenset(found)


def is_shortage(site: WorkSite, occupation_code: str,
                demand: Mapping[Destination, frozenset[str]] = SEED_DEMAND) -> bool:
    return occupation_code in shortage_occupations(site, demand)
