"""Budget allocations from named funds. Allocations only add money; a mistake is corrected
by the appropriation office, not by editing history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import Event
from shared.contracts.funding import BudgetAllocated, Fen
from shared.runtime.commands import Decider
from shared.runtime.errors import DomainError

BUDGET_ID = "budget"  # funding has one budget, of many named funds


def budget_stream(budget_id: str) -> str:
    return f"funding-{budget_id}"


BUDGET_STREAM = budget_stream(BUDGET_ID)


class AllocateBudget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    allocation_id: str = Field(min_length=1, max_length=80)
    fund: str = Field(min_length=1, max_length=80)
    amount_fen: Fen = Field(gt=0)
    reference: str | None = Field(default=None, max_length=200)


@dataclass(frozen=True)
class BudgetState:
    allocation_ids: frozenset[str] = frozenset()
    allocated_fen: tuple[tuple[str, int], ...] = ()

    def fund_total(self, fund: str) -> int:
        return sum(a for f, a in self.allocated_fen if f == fund)


def decide_allocate(cmd: AllocateBudget, state: BudgetState, today: date) -> list[BudgetAllocated]:
    if cmd.allocation_id in state.allocation_ids:
        raise DomainError("allocation_exists",
                          f"allocation {cmd.allocation_id!r} was already recorded",
                          allocation_id=cmd.allocation_id)
    return [BudgetAllocated(allocation_id=cmd.allocation_id, fund=cmd.fund,
                            amount_fen=cmd.amount_fen, allocated_on=today,
                            reference=cmd.reference)]


def evolve(state: BudgetState, event: BudgetAllocated) -> BudgetState:
    return BudgetState(
        allocation_ids=state.allocation_ids | {event.allocation_id},
        allocated_fen=(*state.allocated_fen, (event.fund, event.amount_fen)),
    )


@dataclass(frozen=True)
class BudgetGiven:
    """What a decision on the budget is given besides its state: funding's 'today'."""

    today: date


def decide(command: object, state: BudgetState, given: BudgetGiven) -> list[Event]:
    match command:
        case AllocateBudget():
            return list(decide_allocate(command, state, given.today))
    raise TypeError(f"the budget decides no {type(command).__name__}")


BUDGET = Decider(stream=budget_stream, initial=BudgetState(), evolve=evolve, decide=decide)
