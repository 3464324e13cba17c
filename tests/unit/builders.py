"""Small builders shared by the unit tests: valid inputs and folds of event lists."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, time
from functools import reduce
from typing import TypeVar

from services.enrolment.domain.national_id import check_digit
from services.training.domain.catalogue import catalogue_by_code
from services.training.domain.class_run import PlannedSession, ScheduleClass
from services.training.domain.institution import AccreditInstitution
from shared.contracts.common import WorkSite

S = TypeVar("S")
E = TypeVar("E")

FUKANG = WorkSite(province="新疆", city="阜康市", site_name="阜康工业园")
PUTUO = WorkSite(province="上海", city="普陀区", site_name="长征镇")
CATALOGUE = catalogue_by_code()


def national_id(first17: str = "53012819900101123") -> str:
    """A valid 18-digit number (Luquan county region code) with its check digit."""
    return first17 + check_digit(first17)


def fold(evolve: Callable[[S, E], S], initial: S, events: Iterable[E]) -> S:
    return reduce(evolve, events, initial)


def accredit_command(institution_id: str = "inst-1", **overrides: object) -> AccreditInstitution:
    fields: dict[str, object] = dict(
        institution_id=institution_id, name="云南某职业技能培训学校",
        occupations=["electrician", "crop_protection_worker"], sites=[FUKANG],
        partners=["阜康某农业合作社"],
    )
    fields.update(overrides)
    return AccreditInstitution.model_validate(fields)


def session(day: date, start: str = "19:00", end: str = "21:00",
            kind: str = "classroom_theory") -> PlannedSession:
    return PlannedSession(date=day, start_local=time.fromisoformat(start),
                          end_local=time.fromisoformat(end), kind=kind)  # type: ignore[arg-type]


def schedule_command(class_id: str = "class-1", **overrides: object) -> ScheduleClass:
    fields: dict[str, object] = dict(
        class_id=class_id, institution_id="inst-1", occupation_code="electrician",
        target_level=5, site=FUKANG, mode="night", capacity=2,
        sessions=[session(date(2025, 7, 24)), session(date(2025, 7, 25))],
        required_minutes=240, trainer_ids=["trainer-1"],
    )
    fields.update(overrides)
    return ScheduleClass.model_validate(fields)
