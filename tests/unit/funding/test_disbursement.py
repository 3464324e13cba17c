"""Approve a batch, public notice of 5 working days, objections hold lines, bank file,
payment confirmed: all funding's own events, so "paid" is derived from the log."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from services.funding.domain import build_ledger
from services.funding.domain.bank_csv import (
    BankAccount,
    MissingAccount,
    file_sha256,
    payment_instruction_csv,
)
from services.funding.domain.disbursement import (
    ApproveDisbursement,
    ConfirmPayment,
    IssuePaymentInstruction,
    RaiseObjection,
    ResolveObjection,
    batch_stream,
    decide_approve,
    decide_confirm_payment,
    decide_issue_instruction,
    decide_raise_objection,
    decide_resolve_objection,
)
from services.funding.domain.ledger import (
    APPROVED,
    AWAITING_BUDGET,
    DUE,
    INSTRUCTED,
    ON_HOLD,
    PAID,
    WITHHELD,
)
from services.funding.domain.notice_calendar import WorkingCalendar
from shared.contracts.funding import PaymentInstructionIssued, PaymentItem
from shared.runtime.errors import DomainError

from .world import FUKANG_DAYS, World, fukang_uplift, yuan

CAL = WorkingCalendar()
APPROVED_ON = date(2025, 8, 20)  # a Wednesday: notice Thu 21 .. Wed 27 August
ACCOUNT = BankAccount("account holder", "6222020200112233", "ICBC")


def world() -> World:
    w = World()
    w.policy(uplifts=fukang_uplift())
    w.budget("alloc-1", 100_000)
    w.body()
    w.run_class("c", FUKANG_DAYS, {"w-1": 15, "w-2": 15})
    w.certify("w-1", "c")
    return w


def record(w: World, batch: str, events) -> None:
    for ev in events:
        w.emit(batch_stream(batch), ev)


def approve(w: World, line_ids, batch="b1", on=APPROVED_ON):
    record(w, batch, decide_approve(ApproveDisbursement(batch_id=batch, line_ids=line_ids,
                                                        approved_by="officer-7"),
                                    build_ledger(w.records), on, CAL))


def accounts(ledger):
    return {x.payee_id: ACCOUNT for x in ledger.lines}


def test_full_disbursement_flow():
    w = world()
    ledger = build_ledger(w.records)
    ids = [x.line_id for x in ledger.lines]
    assert {x.status for x in ledger.lines} == {DUE}
    approve(w, ids)
    ledger = build_ledger(w.records)
    assert {x.status for x in ledger.lines} == {APPROVED}
    notice = ledger.batch("b1").notice
    assert (notice.first_day, notice.last_day) == (date(2025, 8, 21), date(2025, 8, 27))

    with pytest.raises(DomainError) as err:  # the notice is still running on its last day
        decide_issue_instruction(IssuePaymentInstruction(instruction_id="i1", batch_id="b1"),
                                 ledger, date(2025, 8, 27), accounts(ledger))
    assert err.value.code == "notice_running"

    events, content = decide_issue_instruction(
        IssuePaymentInstruction(instruction_id="i1", batch_id="b1"), ledger,
        date(2025, 8, 28), accounts(ledger))
    # 2,250 (training, institution) + 1,200 + 1,200 (living) = 4,650 yuan
    assert events[0].total_fen == yuan(4650)
    assert events[0].file_sha256 == file_sha256(content)
    record(w, "b1", events)
    assert {x.status for x in build_ledger(w.records).lines} == {INSTRUCTED}

    record(w, "b1", decide_confirm_payment(
        ConfirmPayment(instruction_id="i1", batch_id="b1", bank_reference="ICBC-0828-01"),
        build_ledger(w.records), date(2025, 8, 29)))
    ledger = build_ledger(w.records)
    assert {x.status for x in ledger.lines} == {PAID}
    [fund] = ledger.funds
    assert (fund.paid_fen, fund.committed_fen, fund.available_fen) == (
        yuan(4650), 0, yuan(100_000 - 4650))
    with pytest.raises(DomainError) as err:
        decide_confirm_payment(ConfirmPayment(instruction_id="i1", batch_id="b1",
                                              bank_reference="again"), ledger, APPROVED_ON)
    assert err.value.code == "already_confirmed"


def test_only_due_lines_can_be_approved():
    w = World()
    w.policy()
    w.run_class("c", FUKANG_DAYS, {"w-1": 15})  # no budget: the line waits
    [line] = build_ledger(w.records).lines
    assert line.status == AWAITING_BUDGET
    with pytest.raises(DomainError) as err:
        approve(w, [line.line_id])
    assert err.value.code == "line_not_due"


def test_an_objection_holds_its_line_until_resolved():
    w = world()
    ids = [x.line_id for x in build_ledger(w.records).lines]
    approve(w, ids)
    disputed = next(x for x in build_ledger(w.records).lines if x.worker_id == "w-2")
    record(w, "b1", decide_raise_objection(
        RaiseObjection(objection_id="o1", batch_id="b1", line_id=disputed.line_id,
                       ground="not_attended"), build_ledger(w.records), date(2025, 8, 25)))
    ledger = build_ledger(w.records)
    assert ledger.line(disputed.line_id).status == ON_HOLD
    # the rest of the batch goes ahead; the held line is not in the bank file
    events, _ = decide_issue_instruction(
        IssuePaymentInstruction(instruction_id="i1", batch_id="b1"), ledger,
        date(2025, 8, 28), accounts(ledger))
    assert disputed.line_id not in {i.line_id for i in events[0].items}
    assert len(events[0].items) == 2
    # dismissed: the line is approved again and can go in a later instruction
    record(w, "b1", events)
    record(w, "b1", decide_resolve_objection(
        ResolveObjection(objection_id="o1", batch_id="b1", outcome="dismissed"),
        build_ledger(w.records), date(2025, 9, 1)))
    assert build_ledger(w.records).line(disputed.line_id).status == APPROVED


def test_an_upheld_objection_withholds_the_line():
    w = world()
    ids = [x.line_id for x in build_ledger(w.records).lines]
    approve(w, ids)
    disputed = ids[0]
    record(w, "b1", decide_raise_objection(
        RaiseObjection(objection_id="o1", batch_id="b1", line_id=disputed, ground="other"),
        build_ledger(w.records), date(2025, 8, 21)))
    record(w, "b1", decide_resolve_objection(
        ResolveObjection(objection_id="o1", batch_id="b1", outcome="upheld"),
        build_ledger(w.records), date(2025, 8, 22)))
    ledger = build_ledger(w.records)
    assert ledger.line(disputed).status == WITHHELD
    with pytest.raises(DomainError):
        decide_resolve_objection(ResolveObjection(objection_id="o1", batch_id="b1",
                                                  outcome="dismissed"), ledger, APPROVED_ON)


def test_objections_only_during_the_notice():
    w = world()
    ids = [x.line_id for x in build_ledger(w.records).lines]
    approve(w, ids)
    with pytest.raises(DomainError) as err:
        decide_raise_objection(RaiseObjection(objection_id="o1", batch_id="b1",
                                              line_id=ids[0], ground="other"),
                               build_ledger(w.records), date(2025, 8, 28))
    assert err.value.code == "notice_closed"


def instruct(w: World, batch: str, instruction: str, on: date) -> list[str]:
    """Issue a bank file for the batch; the line ids it pays."""
    ledger = build_ledger(w.records)
    events, _ = decide_issue_instruction(
        IssuePaymentInstruction(instruction_id=instruction, batch_id=batch), ledger, on,
        accounts(ledger))
    record(w, batch, events)
    return [i.line_id for i in events[0].items]


def confirm(w: World, batch: str, instruction: str, on: date, failed=()) -> None:
    record(w, batch, decide_confirm_payment(
        ConfirmPayment(instruction_id=instruction, batch_id=batch, bank_reference="r",
                       failed_line_ids=list(failed)), build_ledger(w.records), on))


def refused(code: str, decide, *args) -> None:
    with pytest.raises(DomainError) as err:
        decide(*args)
    assert err.value.code == code


def test_a_line_the_bank_rejected_is_due_again_and_paid_once_in_a_new_batch():
    w = world()
    ids = [x.line_id for x in build_ledger(w.records).lines]
    total = sum(x.amount_fen for x in build_ledger(w.records).lines)
    approve(w, ids)
    assert sorted(instruct(w, "b1", "i1", date(2025, 8, 28))) == sorted(ids)
    confirm(w, "b1", "i1", date(2025, 8, 29), failed=[ids[0]])
    ledger = build_ledger(w.records)
    rejected = ledger.line(ids[0])
    # due again, out of its batch, still charged to its fund (the money stays reserved)
    assert (rejected.status, rejected.batch_id, rejected.fund) == (
        DUE, None, "municipal-special")
    assert {ledger.line(i).status for i in ids[1:]} == {PAID}
    [fund] = ledger.funds
    assert (fund.committed_fen, fund.paid_fen) == (rejected.amount_fen,
                                                    total - rejected.amount_fen)
    # the old batch cannot send it to the bank again
    refused("nothing_to_pay", decide_issue_instruction,
            IssuePaymentInstruction(instruction_id="i1-again", batch_id="b1"), ledger,
            date(2025, 9, 1), accounts(ledger))
    # a new batch can: notice, bank file, paid
    approve(w, [ids[0]], batch="b2", on=date(2025, 9, 1))  # notice Tue 2 .. Mon 8 Sept
    assert build_ledger(w.records).line(ids[0]).status == APPROVED
    assert instruct(w, "b2", "i2", date(2025, 9, 9)) == [ids[0]]
    confirm(w, "b2", "i2", date(2025, 9, 10))
    ledger = build_ledger(w.records)
    assert (ledger.line(ids[0]).status, ledger.line(ids[0]).batch_id) == (PAID, "b2")
    [fund] = ledger.funds
    assert (fund.committed_fen, fund.paid_fen) == (0, total)  # each line paid once
    # and never a third time: no batch takes it, no bank file carries it
    refused("line_not_due", decide_approve, ApproveDisbursement(
        batch_id="b3", line_ids=[ids[0]], approved_by="officer-7"), ledger,
        date(2025, 9, 11), CAL)
    for batch in ("b1", "b2"):
        refused("nothing_to_pay", decide_issue_instruction,
                IssuePaymentInstruction(instruction_id=f"{batch}-again", batch_id=batch),
                ledger, date(2025, 9, 11), accounts(ledger))


def test_a_line_rejected_twice_is_due_again_each_time_and_paid_once():
    w = world()
    ids = [x.line_id for x in build_ledger(w.records).lines]
    approve(w, ids)
    instruct(w, "b1", "i1", date(2025, 8, 28))
    confirm(w, "b1", "i1", date(2025, 8, 29), failed=[ids[0]])
    approve(w, [ids[0]], batch="b2", on=date(2025, 9, 1))
    instruct(w, "b2", "i2", date(2025, 9, 9))
    confirm(w, "b2", "i2", date(2025, 9, 10), failed=[ids[0]])
    ledger = build_ledger(w.records)
    assert (ledger.line(ids[0]).status, ledger.line(ids[0]).payable_fen) == (
        DUE, ledger.line(ids[0]).amount_fen)
    for batch in ("b1", "b2"):
        refused("nothing_to_pay", decide_issue_instruction,
                IssuePaymentInstruction(instruction_id=f"{batch}-again", batch_id=batch),
                ledger, date(2025, 9, 11), accounts(ledger))
    approve(w, [ids[0]], batch="b3", on=date(2025, 9, 11))
    instruct(w, "b3", "i3", date(2025, 9, 19))
    confirm(w, "b3", "i3", date(2025, 9, 22))
    ledger = build_ledger(w.records)
    assert ledger.line(ids[0]).status == PAID
    [fund] = ledger.funds
    assert fund.paid_fen == sum(x.amount_fen for x in ledger.lines)


def test_a_second_bank_file_in_the_same_batch_from_before_still_counts_once():
    """History written when a rejected line stayed in its batch: a second instruction of the
    same batch paid it. Read today, it is paid, once."""
    w = world()
    ids = [x.line_id for x in build_ledger(w.records).lines]
    approve(w, ids)
    instruct(w, "b1", "i1", date(2025, 8, 28))
    confirm(w, "b1", "i1", date(2025, 8, 29), failed=[ids[0]])
    line = build_ledger(w.records).line(ids[0])
    record(w, "b1", [PaymentInstructionIssued(
        instruction_id="i2", batch_id="b1", items=[PaymentItem(
            line_id=line.line_id, payee_kind=line.payee_kind, payee_id=line.payee_id,
            amount_fen=line.amount_fen)], total_fen=line.amount_fen, file_sha256="0" * 64,
        issued_on=date(2025, 8, 30))])
    confirm(w, "b1", "i2", date(2025, 9, 1))
    ledger = build_ledger(w.records)
    assert (ledger.line(ids[0]).status, ledger.line(ids[0]).batch_id) == (PAID, "b1")
    assert ledger.funds[0].paid_fen == sum(x.amount_fen for x in ledger.lines)


def test_instruction_ids_are_unique_across_batches():
    w = world()
    ids = [x.line_id for x in build_ledger(w.records).lines]
    approve(w, ids[:1])
    approve(w, ids[1:], batch="b2")
    instruct(w, "b1", "i1", date(2025, 8, 28))
    ledger = build_ledger(w.records)
    for batch in ("b1", "b2"):  # the same batch, or another one: a second file is refused
        refused("instruction_exists", decide_issue_instruction,
                IssuePaymentInstruction(instruction_id="i1", batch_id=batch), ledger,
                date(2025, 8, 28), accounts(ledger))


def test_objection_ids_are_unique_across_batches():
    w = world()
    ids = [x.line_id for x in build_ledger(w.records).lines]
    approve(w, ids[:1])
    approve(w, ids[1:], batch="b2")
    record(w, "b1", decide_raise_objection(
        RaiseObjection(objection_id="o1", batch_id="b1", line_id=ids[0], ground="other"),
        build_ledger(w.records), date(2025, 8, 21)))
    ledger = build_ledger(w.records)
    for batch, line in (("b1", ids[0]), ("b2", ids[1])):
        refused("objection_exists", decide_raise_objection, RaiseObjection(
            objection_id="o1", batch_id=batch, line_id=line, ground="duplicate"), ledger,
            date(2025, 8, 22))
    assert ledger.line(ids[0]).status == ON_HOLD  # the first objection still holds its line


def test_batch_ids_are_unique():
    w = world()
    ids = [x.line_id for x in build_ledger(w.records).lines]
    approve(w, ids[:1])
    refused("batch_exists", decide_approve, ApproveDisbursement(
        batch_id="b1", line_ids=ids[1:], approved_by="officer-7"), build_ledger(w.records),
        APPROVED_ON, CAL)


def test_bank_file_one_row_per_payee_exact_yuan_no_formula_injection():
    items = [
        PaymentItem(line_id="l2", payee_kind="institution", payee_id="inst-1",
                    amount_fen=yuan(2250)),
        PaymentItem(line_id="l1", payee_kind="institution", payee_id="inst-1",
                    amount_fen=yuan(1500)),
        PaymentItem(line_id="l3", payee_kind="worker", payee_id="w-1", amount_fen=yuan(1200)),
    ]
    content = payment_instruction_csv("i1", items, {
        "inst-1": BankAccount("=HYPERLINK(evil)", "110", "ICBC"),
        "w-1": ACCOUNT})
    rows = list(csv.reader(io.StringIO(content)))
    assert rows[0][:4] == ["instruction_id", "row", "payee_kind", "payee_id"]
    assert rows[1] == ["i1", "1", "institution", "inst-1", "'=HYPERLINK(evil)", "110", "ICBC",
                       "3750.00", "375000", "2", "l1;l2"]
    assert rows[2][3] == "w-1" and rows[2][7] == "1200.00"
    assert content.endswith("\r\n")
    with pytest.raises(MissingAccount):
        payment_instruction_csv("i1", items, {"w-1": ACCOUNT})
