"""Funding's command handlers: load, decide, append (and re-derive lines when a policy is
published). ``today`` is the local (Asia/Shanghai) date, taken once per request.

Every command takes an optional ``conn``: the connection of a request run under an
Idempotency-Key (shared/runtime/idempotency.py), whose transaction holds the key's row; the
command's writes then commit with the key and its stored answer, or not at all."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone

import asyncpg

from services.funding.domain import budget, disbursement, policy
from services.funding.domain.bank_csv import BankAccount
from services.funding.domain.ledger import Ledger, settle
from services.funding.domain.notice_calendar import WorkingCalendar
from services.funding.records import LEDGER_LOCK, own_inputs, recompute, recorded_lines
from services.funding.settings import FundingSettings
from shared.aggregate import load
from shared.contracts import Metadata
from shared.contracts.funding import BudgetAllocated, FundingPolicyPublished, RecoveryReceived
from shared.eventsourcing.db import transaction
from shared.runtime.service import ServiceContext


def today(ctx: ServiceContext) -> date:
    offset = getattr(ctx.settings, "local_utc_offset_hours", 8)
    real = datetime.now(UTC).astimezone(timezone(timedelta(hours=offset))).date()
    return real + timedelta(days=days_ahead(ctx))


def days_ahead(ctx: ServiceContext) -> int:
    """Days the test clock moved 'today' ahead; always 0 unless the test clock is enabled."""
    settings = ctx.settings
    if isinstance(settings, FundingSettings) and settings.test_clock:
        return settings.days_ahead
    return 0


def calendar(ctx: ServiceContext) -> WorkingCalendar:
    settings = ctx.settings
    if isinstance(settings, FundingSettings):
        return WorkingCalendar.of(settings.holidays, settings.makeup_working_days)
    return WorkingCalendar()


async def current_ledger(conn: asyncpg.Connection) -> Ledger:
    """The recorded lines with statuses from funding's own events, as of now."""
    return settle(await own_inputs(conn), await recorded_lines(conn))


async def publish_policy(ctx: ServiceContext, cmd: policy.PublishFundingPolicy,
                         metadata: Metadata,
                         conn: asyncpg.Connection | None = None) -> FundingPolicyPublished:
    state, version = await load(ctx.store, policy.policy_stream(cmd.policy_id), policy.evolve,
                                policy.PolicyState(), conn=conn)
    events = policy.decide_publish(cmd, state, today(ctx))
    async with transaction(ctx.pool, conn) as conn:
        await ctx.store.append(policy.policy_stream(cmd.policy_id), version, events, metadata,
                               conn=conn)
        await recompute(conn, ctx.store, None, metadata)  # a policy can change every line
    return events[0]


async def allocate_budget(ctx: ServiceContext, cmd: budget.AllocateBudget,
                          metadata: Metadata,
                          conn: asyncpg.Connection | None = None) -> BudgetAllocated:
    state, version = await load(ctx.store, budget.BUDGET_STREAM, budget.evolve,
                                budget.BudgetState(), conn=conn)
    events = budget.decide_allocate(cmd, state, today(ctx))
    await ctx.store.append(budget.BUDGET_STREAM, version, events, metadata, conn=conn)
    return events[0]


async def _decide_on_batch(ctx: ServiceContext, batch_id: str, decide, metadata: Metadata,
                           conn: asyncpg.Connection | None = None):
    """Decide against the current ledger and append to the batch's stream, under the ledger
    lock, so two officers cannot approve the same line twice."""
    async with transaction(ctx.pool, conn) as conn:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LEDGER_LOCK)
        ledger = await current_ledger(conn)
        result = decide(ledger)
        events = result[0] if isinstance(result, tuple) else result
        stream = disbursement.batch_stream(batch_id)
        version = await ctx.store.stream_version(stream, conn=conn)
        await ctx.store.append(stream, version, events, metadata, conn=conn)
    return result


async def approve_disbursement(ctx: ServiceContext, cmd: disbursement.ApproveDisbursement,
                               metadata: Metadata, conn: asyncpg.Connection | None = None):
    return await _decide_on_batch(
        ctx, cmd.batch_id,
        lambda ledger: disbursement.decide_approve(cmd, ledger, today(ctx), calendar(ctx)),
        metadata, conn)


async def raise_objection(ctx: ServiceContext, cmd: disbursement.RaiseObjection,
                          metadata: Metadata, conn: asyncpg.Connection | None = None):
    return await _decide_on_batch(
        ctx, cmd.batch_id,
        lambda ledger: disbursement.decide_raise_objection(cmd, ledger, today(ctx)), metadata,
        conn)


async def resolve_objection(ctx: ServiceContext, cmd: disbursement.ResolveObjection,
                            metadata: Metadata, conn: asyncpg.Connection | None = None):
    return await _decide_on_batch(
        ctx, cmd.batch_id,
        lambda ledger: disbursement.decide_resolve_objection(cmd, ledger, today(ctx)),
        metadata, conn)


async def issue_instruction(ctx: ServiceContext, cmd: disbursement.IssuePaymentInstruction,
                            accounts: Mapping[str, BankAccount], metadata: Metadata,
                            conn: asyncpg.Connection | None = None):
    """Returns (events, csv). The file goes to the bank; only its SHA-256 is recorded."""
    return await _decide_on_batch(
        ctx, cmd.batch_id,
        lambda ledger: disbursement.decide_issue_instruction(cmd, ledger, today(ctx),
                                                             accounts), metadata, conn)


async def confirm_payment(ctx: ServiceContext, cmd: disbursement.ConfirmPayment,
                          metadata: Metadata, conn: asyncpg.Connection | None = None):
    return await _decide_on_batch(
        ctx, cmd.batch_id,
        lambda ledger: disbursement.decide_confirm_payment(cmd, ledger, today(ctx)), metadata,
        conn)


async def record_recovery(ctx: ServiceContext, cmd: disbursement.RecordRecovery,
                          metadata: Metadata,
                          conn: asyncpg.Connection | None = None) -> RecoveryReceived:
    stream = disbursement.recovery_stream(cmd.recovery_id)
    async with transaction(ctx.pool, conn) as conn:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LEDGER_LOCK)
        ledger = await current_ledger(conn)
        exists = await ctx.store.stream_version(stream, conn=conn) > 0
        events = disbursement.decide_record_recovery(cmd, ledger, today(ctx), exists)
        await ctx.store.append(stream, 0, events, metadata, conn=conn)
    return events[0]
