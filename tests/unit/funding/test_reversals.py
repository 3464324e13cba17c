"""Corrections after a line fell due become reversals linked to the line they correct;
every adjustment is the amount due now minus what is already booked; what was paid is
recovered, what was not is netted -- nothing is paid twice, nothing vanishes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.funding.domain import build_ledger
from services.funding.domain.bank_csv import BankAccount
from services.funding.domain.disbursement import (
    ApproveDisbursement,
    ConfirmPayment,
    IssuePaymentInstruction,
    RecordRecovery,
    batch_stream,
    decide_approve,
    decide_confirm_payment,
    decide_issue_instruction,
    decide_record_recovery,
)
from services.funding.domain.ledger import (
    DUE,
    NETTED,
    OFFSET,
    PAID,
    RECOVERED,
    RECOVERY_DUE,
)
from services.funding.domain.notice_calendar import WorkingCalendar
from shared.contracts.funding import RecoveryReceived
from shared.runtime.errors import DomainError

from .world import FUKANG_DAYS, World, fukang_uplift, yuan

CAL = WorkingCalendar()


def certified_class(budget_yuan: int = 100_000) -> tuple[World, object]:
    w = World()
    w.policy(uplifts=fukang_uplift())
    w.budget("alloc-1", budget_yuan)
    w.body()
    w.run_class("c", FUKANG_DAYS, {"w-1": 15, "w-2": 12})
    cert = w.certify("w-1", "c")
    w.certify("w-2", "c")
    return w, cert


def training_lines(ledger, worker):
    return [x for x in ledger.lines if x.rule == "training_subsidy" and x.worker_id == worker]


def living_lines(ledger, worker):
    return [x for x in ledger.lines if x.rule == "living_subsidy" and x.worker_id == worker]


def pay(w: World, line_ids: list[str], today: date, batch: str = "b1") -> None:
    """Approve, run the notice, instruct and confirm payment of the given lines."""
    ledger = build_ledger(w.records)
    for ev in decide_approve(ApproveDisbursement(batch_id=batch, line_ids=line_ids,
                                                 approved_by="officer-1"), ledger, today, CAL):
        w.emit(batch_stream(batch), ev)
    after = today + timedelta(days=10)
    ledger = build_ledger(w.records)
    accounts = {x.payee_id: BankAccount("payee", "6222000000000000", "ICBC")
                for x in ledger.lines}
    events, _ = decide_issue_instruction(
        IssuePaymentInstruction(instruction_id=f"i-{batch}", batch_id=batch), ledger, after,
        accounts)
    for ev in events:
        w.emit(batch_stream(batch), ev)
    for ev in decide_confirm_payment(ConfirmPayment(instruction_id=f"i-{batch}", batch_id=batch,
                                                    bank_reference="BANK-1"),
                                     build_ledger(w.records), after):
        w.emit(batch_stream(batch), ev)


def test_revocation_before_payment_nets_the_line_to_nothing():
    w, cert = certified_class()
    w.revoke(cert)
    ledger = build_ledger(w.records)
    due, reversal = training_lines(ledger, "w-1")
    assert (due.kind, due.amount_fen) == ("due", yuan(2250))
    assert (reversal.kind, reversal.amount_fen) == ("reversal", -yuan(2250))
    assert reversal.corrects_line_id == due.line_id
    assert (due.status, due.payable_fen) == (NETTED, 0)
    assert reversal.status == OFFSET
    revocation_id = w.records[-1].event_id
    assert revocation_id in reversal.justified_by
    # the living subsidy does not depend on the certificate
    assert sum(x.amount_fen for x in living_lines(ledger, "w-1")) == yuan(1200)


def test_revocation_after_payment_is_a_recovery_of_what_was_paid():
    w, cert = certified_class()
    line = training_lines(build_ledger(w.records), "w-1")[0]
    pay(w, [line.line_id], date(2025, 8, 20))
    assert training_lines(build_ledger(w.records), "w-1")[0].status == PAID
    w.revoke(cert)
    ledger = build_ledger(w.records)
    paid, reversal = training_lines(ledger, "w-1")
    assert paid.status == PAID
    # amount due now (0) - amount already paid (2,250) = -2,250 to recover
    assert (reversal.amount_fen, reversal.status, reversal.payable_fen) == (
        -yuan(2250), RECOVERY_DUE, -yuan(2250))
    w.emit("funding-recovery", RecoveryReceived(recovery_id="r1", line_id=reversal.line_id,
                                                amount_fen=yuan(2250),
                                                received_on=date(2025, 10, 1)))
    assert training_lines(build_ledger(w.records), "w-1")[1].status == RECOVERED


def test_money_recovered_is_credited_back_to_the_fund_it_was_paid_from():
    w, cert = certified_class()
    w.budget("alloc-2", 50_000, fund="provincial-transfer")
    line = training_lines(build_ledger(w.records), "w-1")[0]
    pay(w, [line.line_id], date(2025, 8, 20))
    w.revoke(cert)
    ledger = build_ledger(w.records)
    reversal = training_lines(ledger, "w-1")[1]
    assert (reversal.status, reversal.fund) == (RECOVERY_DUE, "municipal-special")
    before = {f.fund: f for f in ledger.funds}
    assert before["municipal-special"].recovered_fen == 0

    def recover(recovery_id: str, amount_fen: int) -> None:
        events = decide_record_recovery(RecordRecovery(
            recovery_id=recovery_id, line_id=reversal.line_id, amount_fen=amount_fen),
            build_ledger(w.records), date(2025, 10, 1), recovery_exists=False)
        assert events[0].fund == "municipal-special"  # the event names the fund credited
        w.emit(f"funding-recovery-{recovery_id}", events[0])

    with pytest.raises(DomainError) as err:
        recover("r0", yuan(2250) + 1)
    assert err.value.code == "recovery_above_due"
    recover("r1", yuan(1000))  # part of it
    ledger = build_ledger(w.records)
    part = training_lines(ledger, "w-1")[1]
    assert (part.status, part.payable_fen) == (RECOVERY_DUE, -yuan(1250))
    recover("r2", yuan(1250))
    ledger = build_ledger(w.records)
    assert training_lines(ledger, "w-1")[1].status == RECOVERED
    after = {f.fund: f for f in ledger.funds}
    special = after["municipal-special"]
    assert special.recovered_fen == yuan(2250)
    assert special.paid_fen == before["municipal-special"].paid_fen  # paid, then recovered
    assert special.available_fen == before["municipal-special"].available_fen + yuan(2250)
    assert after["provincial-transfer"] == before["provincial-transfer"]
    with pytest.raises(DomainError) as err:  # nothing left: a third recovery is refused
        recover("r3", 1)
    assert err.value.code == "nothing_to_recover"
    with pytest.raises(DomainError) as err:
        decide_record_recovery(RecordRecovery(recovery_id="r1", line_id=reversal.line_id,
                                              amount_fen=1), ledger, date(2025, 10, 2),
                               recovery_exists=True)
    assert err.value.code == "recovery_exists"


def test_a_recovery_recorded_without_its_fund_goes_to_the_fund_paid_from():
    w, cert = certified_class()
    line = training_lines(build_ledger(w.records), "w-1")[0]
    pay(w, [line.line_id], date(2025, 8, 20))
    w.revoke(cert)
    reversal = training_lines(build_ledger(w.records), "w-1")[1]
    available = build_ledger(w.records).funds[0].available_fen
    w.emit("funding-recovery", RecoveryReceived(recovery_id="r1", line_id=reversal.line_id,
                                                amount_fen=yuan(2250),
                                                received_on=date(2025, 10, 1)))
    [fund] = build_ledger(w.records).funds
    assert (fund.recovered_fen, fund.available_fen) == (yuan(2250), available + yuan(2250))


def test_recertified_after_revocation_and_payment_pays_nothing_twice():
    w, cert = certified_class()
    pay(w, [training_lines(build_ledger(w.records), "w-1")[0].line_id], date(2025, 8, 20))
    w.revoke(cert)
    w.certify("w-1", "c", certificate_id="cert-reissued")
    ledger = build_ledger(w.records)
    lines = training_lines(ledger, "w-1")
    assert [(x.kind, x.amount_fen) for x in lines] == [
        ("due", yuan(2250)), ("reversal", -yuan(2250)), ("adjustment", yuan(2250))]
    # 2,250 is due again and 2,250 was paid: nothing to pay, nothing to recover
    assert [x.status for x in lines] == [PAID, OFFSET, NETTED]
    assert sum(x.payable_fen for x in lines) == 0


def test_voided_attendance_after_completion_reverses_one_day():
    w, _ = certified_class()
    record = next(r for r in w.records if getattr(r.event, "attendance_id", "") ==
                  f"att-c-w-1-{FUKANG_DAYS[3].isoformat()}")
    w.void(record)
    ledger = build_ledger(w.records)
    due, reversal = living_lines(ledger, "w-1")
    assert (due.amount_fen, reversal.amount_fen) == (yuan(1200), -yuan(80))
    assert reversal.corrects_line_id == due.line_id
    assert w.records[-1].event_id in reversal.justified_by
    # not paid yet: the due line now pays 1,120 yuan
    assert (due.status, due.payable_fen) == (DUE, yuan(1120))
    # still 14 of 15 days: the training subsidy stands
    assert sum(x.amount_fen for x in training_lines(ledger, "w-1")) == yuan(2250)


def test_void_that_drops_a_trainee_below_threshold_reverses_the_training_subsidy():
    w, _ = certified_class()
    record = next(r for r in w.records if getattr(r.event, "attendance_id", "") ==
                  f"att-c-w-2-{FUKANG_DAYS[0].isoformat()}")
    w.void(record)  # w-2 had exactly 12 of 15: now 11, below 80%
    ledger = build_ledger(w.records)
    assert [x.amount_fen for x in training_lines(ledger, "w-2")] == [yuan(2250), -yuan(2250)]
    assert [x.amount_fen for x in living_lines(ledger, "w-2")] == [yuan(960), -yuan(80)]


def test_void_before_completion_never_creates_a_line_for_that_day():
    w = World()
    w.policy()
    w.schedule("c", FUKANG_DAYS, at=w.on(FUKANG_DAYS[0], 1))
    records = [w.attend("c", "w", d) for d in FUKANG_DAYS]
    w.void(records[0], at=w.on(FUKANG_DAYS[0], 22))
    w.complete("c", FUKANG_DAYS, ["w"])
    lines = build_ledger(w.records).lines
    assert [(x.kind, x.amount_fen) for x in lines] == [("due", yuan(14 * 80))]


def test_void_after_payment_recovers_one_day():
    w, _ = certified_class()
    line = living_lines(build_ledger(w.records), "w-1")[0]
    pay(w, [line.line_id], date(2025, 8, 20))
    record = next(r for r in w.records if getattr(r.event, "attendance_id", "") ==
                  f"att-c-w-1-{FUKANG_DAYS[0].isoformat()}")
    w.void(record)
    paid, reversal = living_lines(build_ledger(w.records), "w-1")
    assert (paid.status, reversal.status, reversal.payable_fen) == (PAID, RECOVERY_DUE,
                                                                    -yuan(80))


def test_a_later_policy_version_effective_retroactively_adjusts_booked_lines():
    w, _ = certified_class()
    w.policy(version=2, effective_from=date(2025, 7, 1), uplifts=fukang_uplift(), meals=70)
    lines = living_lines(build_ledger(w.records), "w-1")
    # 15 days x 10 yuan more a day = 150 yuan adjustment under policy version 2
    assert [(x.kind, x.amount_fen, x.policy_version) for x in lines] == [
        ("due", yuan(1200), 1), ("adjustment", yuan(150), 2)]


def test_as_of_gives_the_ledger_at_that_moment():
    w, cert = certified_class()
    before = w.clock
    w.revoke(cert)
    assert len(training_lines(build_ledger(w.records, as_of=before), "w-1")) == 1
    assert len(training_lines(build_ledger(w.records), "w-1")) == 2
