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

Publishing a policy can change every ledger line; re-deriving them all costs what the whole
history costs, so it is not done in the request: ``publish_policy`` records a recompute job
(``jobs.py``) in the policy's own transaction, after its append (the job names the policy's
event, whose id exists only once it is appended), and the service's job runner re-derives
the lines in chunks, each under the ledger lock for its own short transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.funding import jobs, read_models
from services.funding.domain import budget, disbursement, policy
from services.funding.domain.bank_csv import file_sha256, payment_instruction_csv
from services.funding.domain.disbursement import LedgerGiven
from services.funding.records import lock_ledger
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
    # The projection reads the read models under the ledger lock, taken before the append
    # (the order every ledger writer takes the two); a recompute job's chunk holds it, so a
    # publication waits at most one chunk.
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


@dataclass(frozen=True)
class Publication:
    """A policy published: its event, as the pipeline answered it, and the job that puts its
    lines in the ledger."""

    outcome: Outcome[policy.PolicyGiven]
    job: jobs.Job


async def publish_policy(ctx: ServiceContext[FundingSettings],
                         command: policy.PublishFundingPolicy, org: Organisation,
                         metadata: Metadata, conn: asyncpg.Connection | None = None
                         ) -> Publication:
    """Publish through the pipeline and queue the recompute of every line (a policy can
    change any), in one transaction (on ``conn`` when the caller holds one, e.g. an
    Idempotency-Key's): the policy is never in the store without its job.

    Not the command's ``record``, which runs before the append: the job names the policy's
    event, and the lines it changes name it among those that justify them; its id exists
    only once appended. The lines are published with the request's metadata, caused by the
    policy's event."""
    async with transaction(ctx.pool, conn) as conn:
        outcome = await run(ctx, command, org, metadata, conn)
        # the version just appended: the stream's last, in this transaction
        cause = str(await conn.fetchval(
            "SELECT event_id FROM events WHERE stream_id = $1 ORDER BY version DESC LIMIT 1",
            policy.POLICY.stream(command.policy_id)))
        job = await jobs.record_job(conn, cause,
                                    metadata.model_copy(update={"causation_id": cause}))
    return Publication(outcome, job)
