"""Funding's commands, as the kit's pipeline runs them (shared/runtime/commands.py).

- ``PublishFundingPolicy`` on its policy series' stream, ``AllocateBudget`` on the budget's.
- The disbursement commands (approve a batch, raise and resolve an objection, issue the
  payment instruction, confirm payment) on their batch's stream, and ``RecordRecovery`` on
  its recovery's. Each is decided against the whole current ledger: a line approved in
  another batch is not due, and batch, objection and instruction ids are unique across
  funding. So their look-up takes the ledger lock (``LEDGER_LOCK``) before it computes the
  ledger, and holds it to commit: no other disbursement decision, and no recompute of the
  lines, can change the ledger between this decision and its append. Funding's batch
  commands need no code of their own besides that look-up.

Every command that takes the ledger lock takes it before its append (which holds the event
store's head until commit), as the consumer's recompute does: one order, so a publication
and a recompute never wait on each other in a circle.

Publishing a policy also re-derives every ledger line (``publish_policy``), in the same
transaction, after the policy's append: the lines it changes are justified by the policy's
event, whose id exists only once it is appended.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.funding import read_models
from services.funding.domain import budget, disbursement, policy
from services.funding.domain.bank_csv import file_sha256, payment_instruction_csv
from services.funding.domain.disbursement import LedgerGiven
from services.funding.records import lock_ledger, recompute
from services.funding.settings import FundingSettings
from services.funding.test_clock import today
from shared.auth.policy import Action, Organisation
from shared.contracts import Event, Metadata
from shared.contracts.funding import PaymentInstructionIssued
from shared.eventsourcing.db import transaction
from shared.runtime.commands import Call, CommandSpec, Outcome, run
from shared.runtime.service import ServiceContext


def _settings(call: Call[Any]) -> FundingSettings:
    settings: FundingSettings = call.ctx.settings
    return settings


# -- look-ups --------------------------------------------------------------------------------

async def _policy_today(call: Call[policy.PublishFundingPolicy]) -> policy.PolicyGiven:
    # The policy's append, then every line re-derived under the ledger lock: the lock first,
    # in the order every ledger writer takes the two (see the module's docstring).
    await lock_ledger(call.conn)
    return policy.PolicyGiven(today(_settings(call)))


async def _budget_today(call: Call[budget.AllocateBudget]) -> budget.BudgetGiven:
    # The allocation's projection gives the budget queue its money again: under the lock.
    await lock_ledger(call.conn)
    return budget.BudgetGiven(today(_settings(call)))


async def _ledger_under_lock(call: Call[Any]) -> LedgerGiven:
    """The part of the settled ledger the command names (its lines, its batch and that
    batch's lines, the batch of an objection or instruction id it names), from the read
    models: what the decision reads of the whole ledger, at the cost of that part."""
    await lock_ledger(call.conn)
    await read_models.ensure_ready_locked(call.conn)
    command = call.command
    named = list(getattr(command, "line_ids", ())) + (
        [command.line_id] if hasattr(command, "line_id") else [])
    ledger = await read_models.partial_ledger(
        call.conn, line_ids=named,
        batch_ids=[command.batch_id] if hasattr(command, "batch_id") else [],
        objection_ids=[command.objection_id] if hasattr(command, "objection_id") else [],
        instruction_ids=([command.instruction_id] if hasattr(command, "instruction_id")
                         else []))
    settings = _settings(call)
    return LedgerGiven(ledger, today(settings), settings.calendar())


# -- answers ---------------------------------------------------------------------------------

def _the_event(_: Call[Any], __: Any, events: Sequence[Event]) -> Event:
    return events[0]


def _the_events(_: Call[Any], __: Any, events: Sequence[Event]) -> list[Event]:
    return list(events)


@dataclass(frozen=True)
class BankFile:
    """The payment instruction's file for the bank, and its SHA-256 as the event records it."""

    content: str
    sha256: str


def _bank_file(call: Call[disbursement.IssuePaymentInstruction], _: LedgerGiven,
               events: Sequence[Event]) -> BankFile:
    """Written again from the event's items and the command's accounts, as the decision wrote
    it: the file is not an event, only its hash is."""
    [issued] = events
    assert isinstance(issued, PaymentInstructionIssued)
    content = payment_instruction_csv(call.command.instruction_id, issued.items,
                                      call.command.accounts)
    if file_sha256(content) != issued.file_sha256:
        raise RuntimeError("the bank file differs from the one the instruction records")
    return BankFile(content, issued.file_sha256)


def _batch(action: Action, answer: Any = _the_events,
           status_code: int = 200) -> CommandSpec[Any, None, LedgerGiven]:
    return CommandSpec(decider=disbursement.BATCH,
                       aggregate_id=lambda command, _: command.batch_id, action=action,
                       given=_ledger_under_lock, answer=answer, status_code=status_code)


COMMANDS: dict[type, CommandSpec[Any, Any, Any]] = {
    policy.PublishFundingPolicy: CommandSpec(
        decider=policy.POLICY, aggregate_id=lambda command, _: command.policy_id,
        action=Action.PUBLISH_FUNDING_POLICY, given=_policy_today, answer=_the_event,
        status_code=201),
    budget.AllocateBudget: CommandSpec(
        decider=budget.BUDGET, aggregate_id=lambda _, __: budget.BUDGET_ID,
        action=Action.ALLOCATE_BUDGET, given=_budget_today, answer=_the_event,
        status_code=201),
    disbursement.ApproveDisbursement: _batch(Action.APPROVE_DISBURSEMENT, status_code=201),
    disbursement.RaiseObjection: _batch(Action.RAISE_OBJECTION, status_code=201),
    disbursement.ResolveObjection: _batch(Action.RESOLVE_OBJECTION),
    disbursement.IssuePaymentInstruction: _batch(Action.ISSUE_PAYMENT_INSTRUCTION,
                                                 answer=_bank_file),
    disbursement.ConfirmPayment: _batch(Action.CONFIRM_PAYMENT),
    disbursement.RecordRecovery: CommandSpec(
        decider=disbursement.RECOVERY, aggregate_id=lambda command, _: command.recovery_id,
        action=Action.RECORD_RECOVERY, given=_ledger_under_lock, answer=_the_event,
        status_code=201),
}


async def publish_policy(ctx: ServiceContext[FundingSettings],
                         command: policy.PublishFundingPolicy, org: Organisation,
                         metadata: Metadata, conn: asyncpg.Connection | None = None
                         ) -> Outcome[policy.PolicyGiven]:
    """Publish through the pipeline, then re-derive every line (a policy can change any), in
    one transaction (on ``conn`` when the caller holds one, e.g. an Idempotency-Key's).

    Not the command's ``record``, which runs before the append: a line the new version
    changes names the version's event among those that justify it, and that event's id
    exists only once appended. The recompute runs under the ledger lock the look-up took,
    and appends the lines' ``PayoutDue`` / ``PayoutReversed`` after the policy, as before."""
    async with transaction(ctx.pool, conn) as conn:
        outcome = await run(ctx, command, org, metadata, conn)
        await recompute(conn, ctx.store, None, metadata)
    return outcome
