"""Funding's deciders, as the command pipeline uses them: each aggregate's one ``decide``
hands every command it takes to its rule, with what the look-up gave (today, the ledger, the
calendar), and refuses a command that is not its own; the streams are the ones the ledger
reads funding's own events from."""

from __future__ import annotations

from datetime import date

import pytest

from services.funding.domain import budget, build_ledger, disbursement, policy
from services.funding.domain.bank_csv import BankAccount, file_sha256, payment_instruction_csv
from services.funding.domain.disbursement import (
    BATCH,
    RECOVERY,
    ApproveDisbursement,
    ConfirmPayment,
    IssuePaymentInstruction,
    LedgerGiven,
    RaiseObjection,
    RecordRecovery,
    ResolveObjection,
)
from services.funding.domain.notice_calendar import WorkingCalendar
from shared.contracts.funding import (
    BudgetAllocated,
    DisbursementApproved,
    FundingPolicyPublished,
    LivingSubsidy,
    ObjectionRaised,
    ObjectionResolved,
    PaymentConfirmed,
    PaymentInstructionIssued,
    PublicNoticeStarted,
)
from shared.runtime.errors import DomainError

from .world import FUKANG_DAYS, World, rates

APPROVED_ON = date(2025, 8, 20)  # a Wednesday: notice Thu 21 .. Wed 27 August
AFTER_NOTICE = date(2025, 8, 28)
# A make-up working day on the Saturday: the notice ends a day earlier than without it.
CALENDAR = WorkingCalendar.of(makeup_working_days=[date(2025, 8, 23)])
ACCOUNT = BankAccount("account holder", "6222020200112233", "ICBC")


def publish(policy_id: str = "p") -> policy.PublishFundingPolicy:
    return policy.PublishFundingPolicy(
        policy_id=policy_id, effective_from=date(2025, 1, 1),
        training_subsidies=rates(electrician_4=1500),
        living_subsidy=LivingSubsidy(meals_fen_per_day=6000, transport_fen_per_day=2000),
        attendance_threshold_percent=80)


def test_a_policy_series_decides_its_next_version_on_the_day_it_is_given() -> None:
    assert policy.POLICY.stream("luquan-2025") == "funding-policy-luquan-2025"
    [first] = policy.POLICY.decide(publish(), policy.POLICY.initial,
                                   policy.PolicyGiven(date(2025, 6, 1)))
    assert isinstance(first, FundingPolicyPublished)
    assert (first.version, first.published_on) == (1, date(2025, 6, 1))
    state = policy.POLICY.evolve(policy.POLICY.initial, first)
    [second] = policy.POLICY.decide(publish(), state, policy.PolicyGiven(date(2025, 6, 2)))
    assert (second.version, second.published_on) == (2, date(2025, 6, 2))
    with pytest.raises(TypeError):
        policy.POLICY.decide(budget.AllocateBudget(allocation_id="a", fund="f", amount_fen=1),
                             state, policy.PolicyGiven(date(2025, 6, 1)))


def test_the_budget_is_one_stream_and_refuses_an_allocation_id_twice() -> None:
    assert budget.BUDGET.stream(budget.BUDGET_ID) == budget.BUDGET_STREAM == "funding-budget"
    allocate = budget.AllocateBudget(allocation_id="a1", fund="f", amount_fen=100)
    [event] = budget.BUDGET.decide(allocate, budget.BUDGET.initial,
                                   budget.BudgetGiven(date(2025, 7, 1)))
    assert isinstance(event, BudgetAllocated) and event.allocated_on == date(2025, 7, 1)
    state = budget.BUDGET.evolve(budget.BUDGET.initial, event)
    with pytest.raises(DomainError) as err:
        budget.BUDGET.decide(allocate, state, budget.BudgetGiven(date(2025, 7, 2)))
    assert err.value.code == "allocation_exists"
    with pytest.raises(TypeError):
        budget.BUDGET.decide(publish(), state, budget.BudgetGiven(date(2025, 7, 1)))


def world() -> World:
    w = World()
    w.policy()
    w.budget("alloc-1", 100_000)
    w.body()
    w.run_class("c", FUKANG_DAYS, {"w-1": 15, "w-2": 15})
    w.certify("w-1", "c")
    return w


def given(w: World, on: date) -> LedgerGiven:
    return LedgerGiven(build_ledger(w.records), on, CALENDAR)


def on_batch(w: World, command: object, on: date) -> list:
    events = BATCH.decide(command, BATCH.initial, given(w, on))
    for event in events:
        w.emit(disbursement.batch_stream("b1"), event)
    return events


def test_a_batch_decides_every_disbursement_command_against_the_ledger_it_is_given() -> None:
    w = world()
    assert BATCH.stream("b1") == "funding-batch-b1"
    ids = [x.line_id for x in build_ledger(w.records).lines]
    approved, notice = on_batch(w, ApproveDisbursement(batch_id="b1", line_ids=ids,
                                                       approved_by="officer-7"), APPROVED_ON)
    assert isinstance(approved, DisbursementApproved) and isinstance(notice, PublicNoticeStarted)
    assert notice.last_day == date(2025, 8, 26)  # the calendar given: Saturday 23 is worked

    [raised] = on_batch(w, RaiseObjection(objection_id="o1", batch_id="b1", line_id=ids[0],
                                          ground="not_attended"), APPROVED_ON)
    assert isinstance(raised, ObjectionRaised) and raised.raised_on == APPROVED_ON
    [resolved] = on_batch(w, ResolveObjection(objection_id="o1", batch_id="b1",
                                              outcome="dismissed"), APPROVED_ON)
    assert isinstance(resolved, ObjectionResolved) and resolved.outcome == "dismissed"

    ledger = build_ledger(w.records)
    accounts = {x.payee_id: ACCOUNT for x in ledger.lines}
    [issued] = on_batch(w, IssuePaymentInstruction(instruction_id="i1", batch_id="b1",
                                                   accounts=accounts), AFTER_NOTICE)
    assert isinstance(issued, PaymentInstructionIssued)
    # the file the answer writes again from the event is the one whose hash it records
    content = payment_instruction_csv("i1", issued.items, accounts)
    assert issued.file_sha256 == file_sha256(content)
    assert "6222020200112233" not in repr(IssuePaymentInstruction(
        instruction_id="i1", batch_id="b1", accounts=accounts))

    [confirmed] = on_batch(w, ConfirmPayment(instruction_id="i1", batch_id="b1",
                                             bank_reference="ICBC-1"), AFTER_NOTICE)
    assert isinstance(confirmed, PaymentConfirmed)
    assert {x.status for x in build_ledger(w.records).lines} == {"paid"}
    with pytest.raises(TypeError):
        BATCH.decide(RecordRecovery(recovery_id="r1", line_id=ids[0], amount_fen=1),
                     BATCH.initial, given(w, AFTER_NOTICE))


def test_a_recovery_stream_knows_only_whether_its_id_was_used() -> None:
    w = world()
    line = build_ledger(w.records).lines[0]
    assert RECOVERY.stream("r1") == "funding-recovery-r1"
    command = RecordRecovery(recovery_id="r1", line_id=line.line_id, amount_fen=1)
    with pytest.raises(DomainError) as err:  # nothing to recover on a line due
        RECOVERY.decide(command, RECOVERY.initial, given(w, AFTER_NOTICE))
    assert err.value.code == "nothing_to_recover"
    assert RECOVERY.initial is False and RECOVERY.evolve(False, object()) is True
    with pytest.raises(DomainError) as err:
        RECOVERY.decide(command, True, given(w, AFTER_NOTICE))
    assert err.value.code == "recovery_exists"
