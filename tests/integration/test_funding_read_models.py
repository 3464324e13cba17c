"""The settled read models equal ``settle`` over the same history, after any sequence of
consumed events (completions, attendance voids, certificates, revocations) and funding's
commands (policy versions, allocations to two funds, approvals, objections and their
resolutions, bank instructions and confirmations with rejected lines, recoveries), on the
real PostgreSQL: every line (status, what is left to pay, batch, fund), every fund, every
batch, after every step and after every chunk of a policy's recompute job (one worker per
chunk); filled from nothing at the end (a store from before them); and the lines the jobs
left are those a one-shot recompute over the whole history gives."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.funding import jobs, read_models
from services.funding.commands import COMMANDS, publish_policy
from services.funding.consumers import consume
from services.funding.domain.bank_csv import BankAccount
from services.funding.domain.budget import AllocateBudget
from services.funding.domain.disbursement import (
    ApproveDisbursement,
    ConfirmPayment,
    IssuePaymentInstruction,
    RaiseObjection,
    RecordRecovery,
    ResolveObjection,
)
from services.funding.domain.ledger import DUE, Ledger, derive_lines
from services.funding.domain.policy import PublishFundingPolicy
from services.funding.records import (
    current_ledger,
    inputs_for,
    lock_ledger,
    recompute,
    recorded_lines,
)
from services.funding.settings import FundingSettings
from shared.auth.policy import Organisation
from shared.contracts import Actor, Envelope, Event, Metadata
from shared.contracts.assessment import (
    AssessmentBodyRegistered,
    CertificationRevoked,
    SkillLevelCertified,
)
from shared.contracts.training import (
    AttendanceRecorded,
    AttendanceVoided,
    ClassCompleted,
    ClassScheduled,
    SessionPlan,
    TraineeOutcome,
)
from shared.eventsourcing.db import create_pool
from shared.eventsourcing.migrations import KIT_MIGRATIONS, apply_migrations, migration_files
from shared.eventsourcing.store import EventStore
from shared.infra.postgres import create_database
from shared.runtime.errors import DomainError
from shared.runtime.service import ServiceContext
from tests.integration.test_funding_service import DAYS, FUKANG, POLICY

pytestmark = pytest.mark.integration

HR = Organisation("hr", "hr_bureau")
METADATA = Metadata(correlation_id="read-models", actor=Actor(org="hr", user="hr-officer-1"))
CLASSES = ("c0", "c1", "c2")
WORKERS = ("w0", "w1", "w2", "w3")
FUNDS = ("fund-a", "fund-b")
# weighted towards what opens the way for the rest: classes, money, approvals, payments
KINDS = ("class", "class", "class", "certify", "certify", "revoke", "void", "policy",
         "allocate", "allocate", "allocate", "approve", "approve", "approve", "object",
         "resolve", "advance", "instruct", "instruct", "confirm", "confirm", "recover",
         "recover", "pay", "pay", "pay")


@dataclass
class History:
    """What the test has done so far, to pick the targets of the next step."""

    ctx: ServiceContext[FundingSettings]
    clock: datetime = field(default_factory=lambda: datetime.now(UTC))
    versions: dict[str, int] = field(default_factory=dict)
    completed: dict[str, list[str]] = field(default_factory=dict)  # class -> trainees
    certified: set[tuple[str, str]] = field(default_factory=set)
    voided: set[str] = field(default_factory=set)
    counter: int = 0

    def new_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    async def consume(self, stream: str, event: Event) -> None:
        self.clock += timedelta(milliseconds=5)
        self.versions[stream] = self.versions.get(stream, 0) + 1
        env = Envelope(id=uuid.uuid4(), source="/songji/training", type=event.ce_type(),
                       subject=stream, time=self.clock, data=event.model_dump(mode="json"),
                       schema_version=1, correlation_id="read-models",
                       stream_version=self.versions[stream])
        async with self.ctx.pool.acquire() as conn, conn.transaction():
            await consume(conn, env, event)

    async def command(self, command: object) -> None:
        from shared.runtime.commands import run
        try:
            if isinstance(command, PublishFundingPolicy):
                await publish_policy(self.ctx, command, HR, METADATA)
                await self.run_jobs()
            else:
                await run(self.ctx, command, HR, METADATA)  # type: ignore[arg-type]
        except DomainError:
            pass  # refused by the rules: nothing written, which is also a history

    async def run_jobs(self) -> None:
        """The recompute jobs, one worker per chunk (each its own transaction, as the
        service's runner does them): the read models equal ``settle`` after every chunk."""
        while (job := await jobs.step(self.ctx.pool, self.ctx.store, 1)) is not None:
            await assert_read_models_equal_settle(
                self.ctx.pool, f"job {job.job_id} at {job.workers_done}/{job.workers_total}")

    async def ledger(self) -> Ledger:
        async with self.ctx.pool.acquire() as conn:
            return await current_ledger(conn)


def _sessions() -> list[SessionPlan]:
    return [SessionPlan(session_id=f"s{i}", date=d, start_local="19:00", end_local="23:00",
                        kind="practical_on_the_job", minutes=240) for i, d in enumerate(DAYS)]


async def _step(h: History, kind: str, pick: int) -> None:
    ledger = await h.ledger()
    match kind:
        case "class":
            class_id = CLASSES[pick % len(CLASSES)]
            if class_id in h.completed:
                return
            trainees = [w for i, w in enumerate(WORKERS) if (pick >> i) & 1] or ["w0"]
            stream = f"class-{class_id}"
            await h.consume(stream, ClassScheduled(
                class_id=class_id, institution_id="inst-1", occupation_code="electrician",
                target_level=4, site=FUKANG, mode="night", capacity=200, sessions=_sessions(),
                required_minutes=3600))
            for n, worker in enumerate(trainees):
                for i, d in enumerate(DAYS[:15 - (pick + n) % 6]):
                    await h.consume(stream, AttendanceRecorded(
                        attendance_id=f"a-{class_id}-{worker}-{i}", class_id=class_id,
                        session_id=f"s{i}", session_date=d, worker_id=worker, minutes=240,
                        method="face_check"))
            await h.consume(stream, ClassCompleted(
                class_id=class_id, institution_id="inst-1", occupation_code="electrician",
                target_level=4, site=FUKANG, first_session_date=DAYS[0],
                completed_on=DAYS[-1], threshold_percent=80, trainees=[
                    TraineeOutcome(worker_id=w, attended_minutes=0, required_minutes=3600,
                                   attendance_ratio=0, met_threshold=True)
                    for w in trainees]))
            h.completed[class_id] = trainees
        case "certify" | "revoke" | "void":
            pairs = sorted((c, w) for c, ws in h.completed.items() for w in ws)
            if not pairs:
                return
            class_id, worker = pairs[pick % len(pairs)]
            cert = SkillLevelCertified(
                certificate_id=f"cert-{class_id}-{worker}", certificate_number=f"N-{worker}",
                worker_id=worker, occupation_code="electrician", level=4, body_id="body-xj",
                assessment_id="as-1", class_id=class_id, certified_on=DAYS[-1])
            if kind == "certify" and (class_id, worker) not in h.certified:
                h.certified.add((class_id, worker))
                await h.consume(f"cert-{class_id}-{worker}", cert)
            elif kind == "revoke" and (class_id, worker) in h.certified:
                h.certified.discard((class_id, worker))
                await h.consume(f"cert-{class_id}-{worker}", CertificationRevoked(
                    certificate_id=cert.certificate_id,
                    certificate_number=cert.certificate_number, worker_id=worker,
                    occupation_code="electrician", level=4, class_id=class_id,
                    reason="forged", revoked_on=DAYS[-1]))
            elif kind == "void":
                attendance_id = f"a-{class_id}-{worker}-{pick % 9}"
                if attendance_id not in h.voided:
                    h.voided.add(attendance_id)
                    await h.consume(f"class-{class_id}", AttendanceVoided(
                        attendance_id=attendance_id, class_id=class_id,
                        session_id=f"s{pick % 9}", session_date=DAYS[pick % 9],
                        worker_id=worker, reason="proxy"))
        case "policy":
            meals = (3000, 6000, 9000)[pick % 3]
            await h.command(PublishFundingPolicy.model_validate(
                {**POLICY, "living_subsidy": {"meals_fen_per_day": meals,
                                              "transport_fen_per_day": 2000}}))
        case "allocate":
            await h.command(AllocateBudget(
                allocation_id=h.new_id("alloc"), fund=FUNDS[pick % 2],
                amount_fen=(80_000, 150_000, 400_000)[pick % 3]))
        case "approve":
            due = sorted(x.line_id for x in ledger.lines if x.status == DUE and x.fund)
            if due:
                start = pick % len(due)
                await h.command(ApproveDisbursement(
                    batch_id=h.new_id("batch"), line_ids=due[start:start + 1 + pick % 3],
                    approved_by="hr-officer-1"))
        case "object":
            lines = sorted((b.batch_id, al.line_id) for b in ledger.batches
                           for al in b.approved.lines)
            if lines:
                batch_id, line_id = lines[pick % len(lines)]
                await h.command(RaiseObjection(objection_id=h.new_id("obj"), batch_id=batch_id,
                                               line_id=line_id, ground="not_attended"))
        case "resolve":
            open_ = sorted((b.batch_id, o) for b in ledger.batches
                           for o, _, state in b.objections if state == "open")
            if open_:
                batch_id, objection_id = open_[pick % len(open_)]
                await h.command(ResolveObjection(
                    objection_id=objection_id, batch_id=batch_id,
                    outcome=("upheld", "dismissed")[pick % 2]))
        case "pay":  # approve, notice over, instruct, confirm (one line rejected, maybe)
            await _step(h, "approve", pick)
            h.ctx.settings.days_ahead += 10
            batch = f"batch-{h.counter}"
            await _instruct(h, batch)
            await _confirm(h, await h.ledger(), batch, pick)
        case "advance":
            h.ctx.settings.days_ahead += 10
        case "instruct":
            if ledger.batches:
                await _instruct(h, ledger.batches[pick % len(ledger.batches)].batch_id)
        case "confirm":
            if ledger.batches:
                await _confirm(h, ledger, ledger.batches[pick % len(ledger.batches)].batch_id,
                               pick)
        case "recover":
            owed = sorted((x.line_id, -x.payable_fen) for x in ledger.lines
                          if x.payable_fen < 0)
            if owed:
                line_id, amount = owed[pick % len(owed)]
                await h.command(RecordRecovery(recovery_id=h.new_id("rec"), line_id=line_id,
                                               amount_fen=max(1, amount // (1 + pick % 2))))


async def _instruct(h: History, batch_id: str) -> None:
    payees = {x.payee_id for x in (await h.ledger()).lines}
    await h.command(IssuePaymentInstruction(
        instruction_id=h.new_id("pay"), batch_id=batch_id,
        accounts={p: BankAccount(f"payee {p}", "6217000000000001", "RCC") for p in payees}))


async def _confirm(h: History, ledger: Ledger, batch_id: str, pick: int) -> None:
    view = ledger.batch(batch_id)
    if view is None:
        return
    open_ = [i for i in view.instruction_ids if i not in view.confirmed_instruction_ids]
    if open_:
        instructed = sorted(x.line_id for x in ledger.lines
                            if x.batch_id == batch_id and x.status == "instructed")
        await h.command(ConfirmPayment(
            instruction_id=open_[0], batch_id=batch_id, bank_reference="ref",
            failed_line_ids=instructed[:pick % 2]))


async def assert_read_models_equal_settle(pool: asyncpg.Pool, where: str) -> None:
    async with pool.acquire() as conn:
        expected = await current_ledger(conn)
        rows = await conn.fetch("SELECT * FROM funding_ledger")
        funds = await read_models.fund_positions(conn, None, 1000)
        batches = await read_models.batch_views(
            conn, [r[0] for r in await conn.fetch("SELECT batch_id FROM funding_batches")])
    lines = {r["line_id"]: read_models.settled_line(r) for r in rows}
    assert lines == {x.line_id: x for x in expected.lines}, where
    assert funds == list(expected.funds), where
    assert batches == list(expected.batches), where


async def _run(postgres_url: str, steps: list[tuple[str, int]]) -> None:
    from services.funding.app import SPEC
    from services.funding.read_models import project
    database = await create_database(postgres_url, f"t_{uuid.uuid4().hex[:12]}")
    pool = await create_pool(database, max_size=4)
    try:
        async with pool.acquire() as conn:
            await apply_migrations(conn, migration_files(KIT_MIGRATIONS, SPEC.migrations))
        fake: object = None
        ctx: ServiceContext[FundingSettings] = ServiceContext(
            "funding", FundingSettings.model_construct(test_clock=True, days_ahead=0),
            pool, EventStore(pool), fake, fake, commands=COMMANDS,  # type: ignore[arg-type]
            project=project)
        h = History(ctx)
        await h.command(PublishFundingPolicy.model_validate(POLICY))
        await h.consume("body-xj", AssessmentBodyRegistered(body_id="body-xj",
                                                            name="Xinjiang appraisal centre"))
        for n, (kind, pick) in enumerate(steps):
            await _step(h, kind, pick)
            await assert_read_models_equal_settle(pool, f"after step {n}: {kind} {pick}")
        # and filled from nothing, as for a store recorded before the read models existed
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("UPDATE funding_read_models SET ready = false")
            await lock_ledger(conn)
            await read_models.ensure_ready_locked(conn)
        await assert_read_models_equal_settle(pool, "filled from nothing")
        # the chunked jobs left the ledger a one-shot recompute over the history gives
        async with pool.acquire() as conn:
            recorded = {x.line_id: x for x in await recorded_lines(conn)}
            one_shot = derive_lines(await inputs_for(conn, None))
        assert recorded == {x.line_id: x for x in one_shot}
        async with pool.acquire() as conn, conn.transaction():
            assert await recompute(conn, ctx.store, None, METADATA) == 0
    finally:
        await pool.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                         HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 1023)),
                      min_size=12, max_size=40))
def test_read_models_equal_settle_after_any_history(postgres_url: str,
                                                    steps: list[tuple[str, int]]) -> None:
    asyncio.run(_run(postgres_url, steps))
