"""Disbursement: approve a batch of due lines, run the public notice, handle objections,
issue the bank's payment instruction, confirm payment. Each decision is checked against the
ledger (which is derived from the log), so "paid" is derived from the log too.

All disbursement events go to one stream per batch (``funding-batch-<batch_id>``).

Batch, objection and instruction ids are unique across funding, not only within a batch:
the ledger keeps the first fact of an id (``Facts``), so a second event reusing one would
be recorded and then ignored -- an objection that holds nothing, a bank file that no
record accounts for. A reused id is refused (409) before anything is written. (A client's
retry of the same request carries its ``Idempotency-Key`` and gets the first answer.)

Every decision here is made against the whole current ledger (a line approved in another
batch is not due; an id is unique across batches), which the service computes under its
ledger lock and passes in (``LedgerGiven``). The batch's own events are in that ledger, so
the batch aggregate keeps no state of its own (``BATCH``); a recovery's stream only says
whether its id was used (``RECOVERY``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from services.funding.domain.bank_csv import BankAccount, file_sha256, payment_instruction_csv
from services.funding.domain.ledger import APPROVED, DUE, BatchView, Ledger
from services.funding.domain.notice_calendar import (
    NOTICE_WORKING_DAYS,
    WorkingCalendar,
    notice_over,
    notice_period,
)
from shared.contracts import Event
from shared.contracts.bounds import MAX_BATCH_LINES, Id
from shared.contracts.funding import (
    ApprovedLine,
    DisbursementApproved,
    Fen,
    ObjectionGround,
    ObjectionRaised,
    ObjectionResolved,
    PaymentConfirmed,
    PaymentInstructionIssued,
    PaymentItem,
    PublicNoticeStarted,
    RecoveryReceived,
)
from shared.runtime.commands import Decider
from shared.runtime.errors import DomainError, NotFound


def batch_stream(batch_id: str) -> str:
    return f"funding-batch-{batch_id}"


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ApproveDisbursement(_Command):
    batch_id: str = Field(min_length=1, max_length=80)
    line_ids: list[Id] = Field(min_length=1, max_length=MAX_BATCH_LINES)
    approved_by: str = Field(min_length=1, max_length=80)


class RaiseObjection(_Command):
    objection_id: str = Field(min_length=1, max_length=80)
    batch_id: Id
    line_id: Id
    ground: ObjectionGround


class ResolveObjection(_Command):
    objection_id: Id
    batch_id: Id
    outcome: str = Field(pattern=r"^(upheld|dismissed)$")


class IssuePaymentInstruction(_Command):
    instruction_id: str = Field(min_length=1, max_length=80)
    batch_id: Id
    # Bank account per payee id, to write the bank's file with: personal data, never in an
    # event or a log (not in the command's repr either).
    accounts: Mapping[str, BankAccount] = Field(default_factory=dict, repr=False)


class RecordRecovery(_Command):
    recovery_id: str = Field(min_length=1, max_length=80)
    line_id: Id
    amount_fen: Fen = Field(gt=0)


class ConfirmPayment(_Command):
    instruction_id: Id
    batch_id: Id
    bank_reference: str = Field(min_length=1, max_length=120)
    failed_line_ids: list[Id] = Field(default_factory=list, max_length=MAX_BATCH_LINES)


def _batch(ledger: Ledger, batch_id: str) -> BatchView:
    view = ledger.batch(batch_id)
    if view is None:
        raise NotFound("batch_not_found", f"no batch {batch_id!r}", batch_id=batch_id)
    return view


def decide_approve(cmd: ApproveDisbursement, ledger: Ledger, today: date,
                   calendar: WorkingCalendar) -> list[DisbursementApproved | PublicNoticeStarted]:
    if ledger.batch(cmd.batch_id) is not None:
        raise DomainError("batch_exists", f"batch {cmd.batch_id!r} exists", batch_id=cmd.batch_id)
    if len(set(cmd.line_ids)) != len(cmd.line_ids):
        raise DomainError("duplicate_line", "a line is listed twice")
    approved = []
    for lid in cmd.line_ids:
        line = ledger.line(lid)
        if line is None:
            raise NotFound("line_not_found", f"no ledger line {lid!r}", line_id=lid)
        if line.status != DUE or line.fund is None:
            raise DomainError("line_not_due", f"line {lid} is {line.status}, not due",
                              line_id=lid, status=line.status)
        approved.append(ApprovedLine(line_id=lid, payee_kind=line.payee_kind,
                                     payee_id=line.payee_id, fund=line.fund,
                                     amount_fen=line.payable_fen))
    first, last = notice_period(today, calendar)
    return [
        DisbursementApproved(batch_id=cmd.batch_id, lines=approved, approved_on=today,
                             approved_by=cmd.approved_by),
        PublicNoticeStarted(batch_id=cmd.batch_id, first_day=first, last_day=last,
                            working_days=NOTICE_WORKING_DAYS),
    ]


def decide_raise_objection(cmd: RaiseObjection, ledger: Ledger,
                           today: date) -> list[ObjectionRaised]:
    view = _batch(ledger, cmd.batch_id)
    in_batch = ledger.batch_of_objection(cmd.objection_id)
    if in_batch is not None:
        raise DomainError("objection_exists", f"objection {cmd.objection_id!r} exists",
                          objection_id=cmd.objection_id, batch_id=in_batch)
    if cmd.line_id not in {al.line_id for al in view.approved.lines}:
        raise DomainError("line_not_in_batch", f"line {cmd.line_id} is not in the batch",
                          line_id=cmd.line_id)
    if view.notice is None or notice_over(view.notice.last_day, today):
        raise DomainError("notice_closed", "objections are accepted only during the notice")
    return [ObjectionRaised(objection_id=cmd.objection_id, batch_id=cmd.batch_id,
                            line_id=cmd.line_id, ground=cmd.ground, raised_on=today)]


def decide_resolve_objection(cmd: ResolveObjection, ledger: Ledger,
                             today: date) -> list[ObjectionResolved]:
    view = _batch(ledger, cmd.batch_id)
    found = [(lid, state) for oid, lid, state in view.objections if oid == cmd.objection_id]
    if not found:
        raise NotFound("objection_not_found", f"no objection {cmd.objection_id!r}")
    line_id_, state = found[0]
    if state != "open":
        raise DomainError("objection_resolved", "the objection was already resolved")
    return [ObjectionResolved(objection_id=cmd.objection_id, batch_id=cmd.batch_id,
                              line_id=line_id_, outcome=cmd.outcome, resolved_on=today)]


def decide_issue_instruction(
    cmd: IssuePaymentInstruction, ledger: Ledger, today: date,
    accounts: Mapping[str, BankAccount],
) -> tuple[list[PaymentInstructionIssued], str]:
    """The instruction event and the CSV file for the bank (the file is not an event)."""
    view = _batch(ledger, cmd.batch_id)
    in_batch = ledger.batch_of_instruction(cmd.instruction_id)
    if in_batch is not None:
        raise DomainError("instruction_exists",
                          f"instruction {cmd.instruction_id!r} was already issued",
                          instruction_id=cmd.instruction_id, batch_id=in_batch)
    if view.notice is None or not notice_over(view.notice.last_day, today):
        raise DomainError("notice_running", "the public notice has not ended",
                          last_day=str(view.notice.last_day) if view.notice else None)
    items = []
    for approved in view.approved.lines:
        line = ledger.line(approved.line_id)
        if line is not None and line.status == APPROVED and line.batch_id == cmd.batch_id \
                and line.payable_fen > 0:
            items.append(PaymentItem(line_id=line.line_id, payee_kind=line.payee_kind,
                                     payee_id=line.payee_id, amount_fen=line.payable_fen))
    if not items:
        raise DomainError("nothing_to_pay", "no line of the batch is ready to pay")
    content = payment_instruction_csv(cmd.instruction_id, items, accounts)
    event = PaymentInstructionIssued(
        instruction_id=cmd.instruction_id, batch_id=cmd.batch_id, items=items,
        total_fen=sum(i.amount_fen for i in items), file_sha256=file_sha256(content),
        issued_on=today)
    return [event], content


def decide_confirm_payment(cmd: ConfirmPayment, ledger: Ledger,
                           today: date) -> list[PaymentConfirmed]:
    view = _batch(ledger, cmd.batch_id)
    if cmd.instruction_id not in view.instruction_ids:
        raise NotFound("instruction_not_found", f"no instruction {cmd.instruction_id!r}")
    if cmd.instruction_id in view.confirmed_instruction_ids:
        raise DomainError("already_confirmed", "the instruction was already confirmed")
    instruction_lines = {x.line_id for x in ledger.lines if x.batch_id == cmd.batch_id
                         and x.status == "instructed"}
    unknown = set(cmd.failed_line_ids) - instruction_lines
    if unknown:
        raise DomainError("unknown_failed_line", "failed lines must be in the instruction",
                          line_ids=sorted(unknown))
    return [PaymentConfirmed(instruction_id=cmd.instruction_id, confirmed_on=today,
                             bank_reference=cmd.bank_reference,
                             failed_line_ids=cmd.failed_line_ids)]


def recovery_stream(recovery_id: str) -> str:
    return f"funding-recovery-{recovery_id}"


def decide_record_recovery(cmd: RecordRecovery, ledger: Ledger, today: date,
                           recovery_exists: bool) -> list[RecoveryReceived]:
    """Money back on a reversal of a paid line, at most what is still to recover; credited
    to the fund the line was paid from (the reversal's fund), which the event names."""
    if recovery_exists:
        raise DomainError("recovery_exists", f"recovery {cmd.recovery_id!r} was already "
                          "recorded", recovery_id=cmd.recovery_id)
    line = ledger.line(cmd.line_id)
    if line is None:
        raise NotFound("line_not_found", f"no ledger line {cmd.line_id!r}")
    if line.payable_fen >= 0:
        raise DomainError("nothing_to_recover", "the line has nothing to recover",
                          status=line.status)
    if cmd.amount_fen > -line.payable_fen:
        raise DomainError("recovery_above_due", "more than is still to recover on the line",
                          still_to_recover_fen=-line.payable_fen)
    return [RecoveryReceived(recovery_id=cmd.recovery_id, line_id=cmd.line_id,
                             amount_fen=cmd.amount_fen, received_on=today, fund=line.fund)]


# -- the aggregates: a batch (approval, notice, objections, instructions, payment) and a
# recovery, each decided against the current ledger ---------------------------------------

@dataclass(frozen=True)
class LedgerGiven:
    """What a disbursement decision is given: the current ledger (statuses included), funding's
    'today', and the working calendar the public notice counts its days by."""

    ledger: Ledger
    today: date
    calendar: WorkingCalendar


def _batch_unchanged(state: None, _: Event) -> None:
    return state  # the batch's events are in the ledger each decision is given


def decide_batch(command: object, _: None, given: LedgerGiven) -> list[Event]:
    ledger, today = given.ledger, given.today
    match command:
        case ApproveDisbursement():
            return list(decide_approve(command, ledger, today, given.calendar))
        case RaiseObjection():
            return list(decide_raise_objection(command, ledger, today))
        case ResolveObjection():
            return list(decide_resolve_objection(command, ledger, today))
        case IssuePaymentInstruction():
            events, _file = decide_issue_instruction(command, ledger, today, command.accounts)
            return list(events)
        case ConfirmPayment():
            return list(decide_confirm_payment(command, ledger, today))
    raise TypeError(f"a batch decides no {type(command).__name__}")


BATCH: Decider[None] = Decider(stream=batch_stream, initial=None, evolve=_batch_unchanged,
                               decide=decide_batch)


def _recovery_recorded(_: bool, __: Event) -> bool:
    return True


def decide_recovery(command: object, recorded: bool, given: LedgerGiven) -> list[Event]:
    match command:
        case RecordRecovery():
            return list(decide_record_recovery(command, given.ledger, given.today, recorded))
    raise TypeError(f"a recovery decides no {type(command).__name__}")


RECOVERY: Decider[bool] = Decider(stream=recovery_stream, initial=False,
                                  evolve=_recovery_recorded, decide=decide_recovery)
