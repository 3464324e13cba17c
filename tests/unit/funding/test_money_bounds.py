"""One money type with a documented maximum (``MAX_FEN``): every amount funding is given or
publishes is at most 10^12 fen, so sums stay within PostgreSQL's bigint; above it a command
is malformed (422), and a derived amount above it is never booked."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from services.funding.domain import build_ledger
from services.funding.domain.budget import AllocateBudget
from services.funding.domain.disbursement import RecordRecovery
from services.funding.domain.entitlements import ABOVE_CEILING, entitlements
from services.funding.domain.facts import Facts, canonical
from services.funding.domain.policy import PublishFundingPolicy
from shared.contracts.funding import (
    MAX_FEN,
    BudgetAllocated,
    LivingSubsidy,
    PayoutDue,
    TrainingSubsidyRate,
)

from .world import FUKANG_DAYS, World, fukang_uplift, rates


def policy_command(meals_fen: int = 6000, catalogue_fen: int = 150000) -> dict:
    return {"policy_id": "luquan-2025", "effective_from": date(2025, 1, 1),
            "training_subsidies": [{"occupation_code": "electrician", "level": 4,
                                    "amount_fen": catalogue_fen}],
            "living_subsidy": {"meals_fen_per_day": meals_fen, "transport_fen_per_day": 2000},
            "attendance_threshold_percent": 80}


def test_the_maximum_fits_many_times_in_a_bigint():
    assert MAX_FEN == 10**12  # 10 billion yuan
    assert 9_000_000 * MAX_FEN < 2**63 - 1


@pytest.mark.parametrize("amount", [0, -1, MAX_FEN + 1, 10**30])
def test_an_allocation_outside_the_money_type_is_malformed(amount):
    with pytest.raises(ValidationError):
        AllocateBudget(allocation_id="a1", fund="municipal-special", amount_fen=amount)
    with pytest.raises(ValidationError):
        BudgetAllocated(allocation_id="a1", fund="municipal-special", amount_fen=amount,
                        allocated_on=date(2025, 1, 1))
    assert AllocateBudget(allocation_id="a1", fund="f", amount_fen=MAX_FEN).amount_fen == MAX_FEN


def test_policy_rates_and_recoveries_are_bounded_by_the_money_type():
    with pytest.raises(ValidationError):
        PublishFundingPolicy.model_validate(policy_command(meals_fen=10**17))
    with pytest.raises(ValidationError):
        PublishFundingPolicy.model_validate(policy_command(catalogue_fen=MAX_FEN + 1))
    with pytest.raises(ValidationError):
        LivingSubsidy(meals_fen_per_day=0, transport_fen_per_day=10**17)
    with pytest.raises(ValidationError):
        TrainingSubsidyRate(occupation_code="electrician", level=4, amount_fen=-1)
    with pytest.raises(ValidationError):
        RecordRecovery(recovery_id="r1", line_id="l1", amount_fen=10**30)
    PublishFundingPolicy.model_validate(policy_command(meals_fen=MAX_FEN))


def test_the_schemas_state_the_maximum():
    schema = PayoutDue.model_json_schema()["properties"]["amount_fen"]
    assert schema["maximum"] == MAX_FEN and schema["exclusiveMinimum"] == 0


def test_a_derived_amount_above_the_maximum_is_not_booked():
    """Rates at the maximum are valid, but 15 days of one, or one raised by 50%, are not an
    amount any line can carry: the entitlement is 0 with a note, nothing is published."""
    w = World()
    w.policy(uplifts=fukang_uplift(), meals=MAX_FEN // 100, transport=0,
             training=rates(electrician_4=MAX_FEN // 100))
    w.budget("alloc-1", 1000)
    w.body()
    w.run_class("c", FUKANG_DAYS, {"w-1": 15})
    w.certify("w-1", "c")
    assert build_ledger(w.records).lines == ()
    facts = Facts()
    for r in canonical(w.records):
        facts.add(r)
    notes = {key[0]: (e.amount_fen, e.note) for key, e in entitlements(facts).items()}
    assert notes == {"training_subsidy": (0, ABOVE_CEILING),
                     "living_subsidy": (0, ABOVE_CEILING)}
