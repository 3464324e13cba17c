"""Budget: lines are funded first come first served in (due time, line id) order; when the
money runs out the rest wait, in that order, and are released when money is allocated."""

from __future__ import annotations

from datetime import date

import pytest

from services.funding.domain import build_ledger
from services.funding.domain.budget import AllocateBudget, BudgetState, decide_allocate, evolve
from services.funding.domain.ledger import AWAITING_BUDGET, DUE
from shared.runtime.errors import DomainError

from .world import PUTUO, World, days, yuan

WEEK1 = days(date(2025, 9, 1), date(2025, 9, 5))
WEEK2 = days(date(2025, 9, 8), date(2025, 9, 12))
WEEK3 = days(date(2025, 9, 15), date(2025, 9, 19))


def three_classes(budget_yuan: int | None) -> World:
    """Three classes, one trainee each, 5 days: 400 yuan of living subsidy per class."""
    w = World()
    w.policy()
    if budget_yuan is not None:
        w.budget("alloc-1", budget_yuan)
    for name, week in (("c1", WEEK1), ("c2", WEEK2), ("c3", WEEK3)):
        w.run_class(name, week, {f"w-{name}": 5}, site=PUTUO)
    return w


def statuses(ledger):
    return {x.class_id: x.status for x in ledger.lines}


def test_lines_wait_when_the_budget_is_exhausted():
    ledger = build_ledger(three_classes(budget_yuan=800).records)
    assert statuses(ledger) == {"c1": DUE, "c2": DUE, "c3": AWAITING_BUDGET}
    [fund] = ledger.funds
    assert (fund.allocated_fen, fund.committed_fen, fund.available_fen) == (
        yuan(800), yuan(800), 0)
    assert ledger.by_fund("municipal-special") == [x for x in ledger.lines if x.fund]


def test_no_budget_at_all_means_every_line_waits_and_none_is_dropped():
    ledger = build_ledger(three_classes(budget_yuan=None).records)
    assert statuses(ledger) == {"c1": AWAITING_BUDGET, "c2": AWAITING_BUDGET,
                                "c3": AWAITING_BUDGET}
    assert ledger.total_fen() == yuan(1200)


def test_waiting_lines_are_released_when_money_is_allocated():
    w = three_classes(budget_yuan=800)
    w.budget("alloc-2", 400)
    assert statuses(build_ledger(w.records)) == {"c1": DUE, "c2": DUE, "c3": DUE}


def test_a_smaller_later_line_never_overtakes_a_waiting_one():
    w = World()
    w.policy()
    w.budget("alloc-1", 500)
    w.run_class("big", WEEK1, {"w-1": 5}, site=PUTUO)   # 400
    w.run_class("big2", WEEK2, {"w-2": 5}, site=PUTUO)  # 400: does not fit in 100
    w.run_class("small", days(date(2025, 9, 15), date(2025, 9, 15)), {"w-3": 1},
                site=PUTUO)  # 80 would fit in the 100 left, but must wait its turn
    ledger = build_ledger(w.records)
    assert statuses(ledger) == {"big": DUE, "big2": AWAITING_BUDGET, "small": AWAITING_BUDGET}


def test_budget_order_is_the_due_order_not_the_arrival_order():
    w = three_classes(budget_yuan=400)
    forwards = statuses(build_ledger(w.records))
    backwards = statuses(build_ledger(list(reversed(w.records))))
    assert forwards == backwards == {"c1": DUE, "c2": AWAITING_BUDGET, "c3": AWAITING_BUDGET}


def test_a_line_is_funded_from_a_single_fund():
    w = three_classes(budget_yuan=None)
    w.budget("a", 300, fund="fund-a")
    w.budget("b", 1000, fund="fund-b")
    ledger = build_ledger(w.records)
    # no 400-yuan line fits in fund-a's 300; two come from fund-b; the third waits, although
    # 300 + 200 = 500 yuan are left in total: a line is never split across funds
    assert {x.class_id: x.fund for x in ledger.lines} == {"c1": "fund-b", "c2": "fund-b",
                                                          "c3": None}
    assert statuses(ledger)["c3"] == AWAITING_BUDGET
    positions = {f.fund: (f.allocated_fen, f.committed_fen) for f in ledger.funds}
    assert positions == {"fund-a": (yuan(300), 0), "fund-b": (yuan(1000), yuan(800))}


def test_allocations_are_recorded_once():
    state = BudgetState()
    [event] = decide_allocate(AllocateBudget(allocation_id="a1", fund="f", amount_fen=100),
                              state, date(2025, 7, 1))
    state = evolve(state, event)
    assert state.fund_total("f") == 100
    with pytest.raises(DomainError) as err:
        decide_allocate(AllocateBudget(allocation_id="a1", fund="f", amount_fen=5), state,
                        date(2025, 7, 2))
    assert err.value.code == "allocation_exists"


def test_a_reversal_before_payment_gives_the_budget_back():
    w = World()
    w.policy()
    w.budget("alloc-1", 400)
    w.run_class("c1", WEEK1, {"w-1": 5}, site=PUTUO)
    w.run_class("c2", WEEK2, {"w-2": 5}, site=PUTUO)
    assert statuses(build_ledger(w.records))["c2"] == AWAITING_BUDGET
    # c1's trainee's attendance was fraudulent: all five days voided
    for r in [r for r in w.records if getattr(r.event, "class_id", "") == "c1"
              and type(r.event).__name__ == "AttendanceRecorded"]:
        w.void(r)
    ledger = build_ledger(w.records)
    assert [x.status for x in ledger.lines if x.class_id == "c2"] == [DUE]
