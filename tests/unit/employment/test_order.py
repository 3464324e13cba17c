"""订单式培训: an order is placed once, planned once, and nothing follows its cancellation."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.employment.domain.order import (
    ORDER,
    CancelTrainingOrder,
    ForPlan,
    Institution,
    Order,
    PlaceTrainingOrder,
    PlanTrainingOrder,
    Today,
)
from shared.contracts.common import WorkSite
from shared.contracts.employment import (
    TrainingOrderCancelled,
    TrainingOrderPlaced,
    TrainingOrderPlanned,
)
from shared.runtime.errors import DomainError, NotFound

DAY = Today(date(2025, 12, 1))
FUKANG = WorkSite(province="新疆", city="阜康市", site_name="阜康工业园")
PLACE = PlaceTrainingOrder(order_id="o-1", employer="阜康某能源有限公司", site=FUKANG,
                           occupation_code="electrician", headcount=20,
                           wanted_by=date(2026, 3, 1))
PLAN = PlanTrainingOrder(order_id="o-1", institution_id="inst-1", class_id="class-o-1")
CANCEL = CancelTrainingOrder(order_id="o-1", reason="用工计划取消")
TEACHES = Institution(occupations=frozenset({"electrician", "welder"}))


def given(command: object, institution: Institution | None = TEACHES) -> object:
    """What the pipeline gives a command: today, and for a plan the institution."""
    if isinstance(command, PlanTrainingOrder):
        return ForPlan(DAY.today, institution)
    return DAY


def run(*commands: object) -> Order:
    state = ORDER.initial
    for command in commands:
        for event in ORDER.decide(command, state, given(command)):
            state = ORDER.evolve(state, event)
    return state


def refusal(command: object, state: Order,
            institution: Institution | None = TEACHES) -> DomainError:
    with pytest.raises(DomainError) as refused:
        ORDER.decide(command, state, given(command, institution))
    return refused.value


def test_an_order_records_its_terms_and_the_day_it_was_placed() -> None:
    [placed] = ORDER.decide(PLACE, ORDER.initial, DAY)
    assert placed == TrainingOrderPlaced(**PLACE.model_dump(), placed_on=DAY.today)
    assert ORDER.evolve(ORDER.initial, placed) == Order(site=FUKANG,
                                                        occupation_code="electrician")
    assert refusal(PLACE, run(PLACE)).code == "order_already_placed"


def test_workers_are_wanted_today_or_later() -> None:
    today = PLACE.model_copy(update={"wanted_by": DAY.today})
    assert len(ORDER.decide(today, ORDER.initial, DAY)) == 1
    late = PLACE.model_copy(update={"wanted_by": DAY.today - timedelta(days=1)})
    assert refusal(late, ORDER.initial).code == "order_wanted_in_the_past"


def test_an_order_is_planned_once_with_its_institution_and_class() -> None:
    [planned] = ORDER.decide(PLAN, run(PLACE), given(PLAN))
    assert planned == TrainingOrderPlanned(order_id="o-1", institution_id="inst-1",
                                           class_id="class-o-1", planned_on=DAY.today)
    assert refusal(PLAN, run(PLACE, PLAN)).code == "order_already_planned"


def test_only_an_institution_that_may_teach_the_occupation_is_planned_with() -> None:
    placed = run(PLACE)
    assert refusal(PLAN, placed, None).code == "institution_not_accredited"
    suspended = Institution(occupations=TEACHES.occupations, suspended=True)
    assert refusal(PLAN, placed, suspended).code == "institution_suspended"
    welders = Institution(occupations=frozenset({"welder"}))
    assert refusal(PLAN, placed, welders).code == "institution_not_accredited_in_occupation"


def test_nothing_is_done_to_an_order_that_does_not_exist() -> None:
    for command in (PLAN, CANCEL):
        unknown = refusal(command, ORDER.initial)
        assert isinstance(unknown, NotFound)
        assert unknown.code == "order_unknown"


def test_a_cancelled_order_is_neither_planned_nor_cancelled_again() -> None:
    for before in ((PLACE,), (PLACE, PLAN)):
        [cancelled] = ORDER.decide(CANCEL, run(*before), given(CANCEL))
        assert cancelled == TrainingOrderCancelled(order_id="o-1", reason="用工计划取消",
                                                   cancelled_on=DAY.today)
    ended = run(PLACE, PLAN, CANCEL)
    assert ended == Order(site=FUKANG, occupation_code="electrician", planned=True,
                          cancelled=True)
    assert refusal(CANCEL, ended).code == "order_cancelled"
    assert refusal(PLAN, run(PLACE, CANCEL)).code == "order_cancelled"
