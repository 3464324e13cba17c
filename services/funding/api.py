"""Funding's HTTP API: policy, budget, disbursement, and the queries (ledger, budget, grants).

Every command runs through the kit's pipeline (``services/funding/commands.py``) and accepts
an ``Idempotency-Key`` (shared/runtime/idempotency.py): publishing a policy makes a new version
each time, and the disbursement's answers (the notice's dates, the bank file) cannot be had
again by a client that lost them, so an HR bureau on a bad link retries with the key instead
of guessing from a conflict. The test clock (rehearsals only, process memory) does not take
one. Who may do or read what is the shared policy's (``shared/auth/policy.py``).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from services.funding import commands, jobs, read_models
from services.funding.domain import budget, disbursement, grants, policy
from services.funding.domain.bank_csv import BankAccount
from services.funding.domain.ledger import Ledger, LedgerLine
from services.funding.records import policy_inputs
from services.funding.settings import FundingContext
from shared.auth.http import REFUSALS, Acting, acting_metadata
from shared.auth.policy import Action, Organisation, Target, authorise, require
from shared.contracts import Metadata
from shared.contracts.bounds import MAX_BATCH_LINES, Id, NewId
from shared.contracts.common import WorkSite
from shared.contracts.funding import FundingPolicyPublished, ObjectionGround
from shared.runtime.commands import execute, run
from shared.runtime.errors import NotFound
from shared.runtime.idempotency import Idempotent, answer
from shared.runtime.paging import Page, PageRequest, answer_page, iso, one_page
from shared.runtime.params import PathId, QueryId

router = APIRouter(responses=REFUSALS)
MAX_ESTIMATE_TRAINEES = 10_000


class LineOut(BaseModel):
    line_id: str
    seq: int
    kind: str
    rule: str
    class_id: str
    worker_id: str
    payee_kind: str
    payee_id: str
    amount_fen: int
    policy_id: str
    policy_version: int
    justified_by: list[str]
    corrects_line_id: str | None
    due_at: datetime
    note: str
    status: str
    payable_fen: int
    fund: str | None
    batch_id: str | None

    @classmethod
    def of(cls, line: LedgerLine) -> LineOut:
        return cls(**{**dataclasses.asdict(line), "justified_by": list(line.justified_by)})


class FundOut(BaseModel):
    fund: str
    allocated_fen: int
    committed_fen: int
    paid_fen: int
    recovered_fen: int = Field(description="Paid out, then recovered from the payee: "
                                           "available again")
    available_fen: int


# -- policy and budget -----------------------------------------------------------------------

class PolicyPublication(FundingPolicyPublished):
    """The version published, and the job that puts its lines in the ledger."""

    job: str = Field(description="The recompute job's id: GET /jobs/{job} until its state is "
                                 "done, when the ledger holds every line under this version")


@router.post("/policies", status_code=status.HTTP_202_ACCEPTED, tags=["policy"],
             response_model=PolicyPublication,
             summary="Publish a version of the funding policy (uplift at most 50%); its "
                     "lines follow in a recompute job (Location: /jobs/{job_id})")
async def post_policy(body: policy.PublishFundingPolicy, request: Request,
                      ctx: FundingContext, org: Acting, once: Idempotent) -> Response:
    metadata = acting_metadata(request, org)

    async def publish(conn: asyncpg.Connection | None) -> Response:
        published = await commands.publish_policy(ctx, body, org, metadata, conn)
        event: FundingPolicyPublished = published.outcome.body
        response = answer(202, {**event.model_dump(mode="json"), "job": published.job.job_id})
        response.headers["Location"] = f"/jobs/{published.job.job_id}"
        return response

    return await once.run(ctx.pool, org.org_id, publish)


@router.get("/policies", tags=["policy"], response_model=list[FundingPolicyPublished],
            summary="Every version of the funding policy, in the order they take effect (paged)")
async def get_policies(ctx: FundingContext, org: Acting, page: Page, request: Request,
                       response: Response) -> list[FundingPolicyPublished]:
    require(org, Action.VIEW_FUNDING_POLICY)
    async with ctx.pool.acquire() as conn:
        refs = await _policies(conn)
    return [r.policy for r in one_page(refs, _policy_key, page, request, response)]


def _policy_key(ref: policy.PolicyRef) -> tuple[str, int, str]:
    effective_from, version, policy_id = ref.sort_key
    return iso(effective_from), version, policy_id


async def _policies(conn) -> list[policy.PolicyRef]:
    return [policy.PolicyRef(r.event_id, r.event) for r in await policy_inputs(conn)]


@router.post("/budget/allocations", status_code=status.HTTP_201_CREATED, tags=["budget"],
             response_model=dict, summary="Allocate money from a named fund")
async def post_allocation(body: budget.AllocateBudget, request: Request, ctx: FundingContext,
                          org: Acting, once: Idempotent) -> Response:
    return await execute(ctx, body, request, org, once)


@router.get("/budget", tags=["budget"], response_model=list[FundOut],
            summary="Per fund: allocated, committed, paid, recovered and available "
                    "(fen; paged by fund)")
async def get_budget(ctx: FundingContext, org: Acting, page: Page, request: Request,
                     response: Response) -> list[FundOut]:
    require(org, Action.VIEW_BUDGET)
    await read_models.ensure_ready(ctx.pool)
    [after] = page.after_as(str)
    async with ctx.pool.acquire() as conn:
        rows = await read_models.fund_positions(conn, after, page.fetch_size())
    funds = answer_page(rows, lambda f: (f.fund,), page, request, response)
    return [FundOut(fund=f.fund, allocated_fen=f.allocated_fen, committed_fen=f.committed_fen,
                    paid_fen=f.paid_fen, recovered_fen=f.recovered_fen,
                    available_fen=f.available_fen) for f in funds]


# -- recompute jobs --------------------------------------------------------------------------

class ProgressOut(BaseModel):
    done: int = Field(description="Workers whose lines are re-derived")
    total: int | None = Field(description="Workers to re-derive (counted when the job starts)")
    percent: int


class JobOut(BaseModel):
    job_id: str
    kind: str
    cause_event_id: str = Field(description="The event that made the recompute necessary")
    state: Literal["queued", "running", "done", "failed"]
    progress: ProgressOut
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None


@router.get("/jobs/{job_id}", tags=["jobs"], response_model=JobOut,
            responses={404: {"description": "No such job"}},
            summary="A recompute job: its state and progress (the ledger is exact for its "
                    "cause once it is done)")
async def get_job(job_id: PathId, ctx: FundingContext, org: Acting) -> dict:
    require(org, Action.VIEW_JOBS)
    async with ctx.pool.acquire() as conn:
        job = await jobs.job_by_id(conn, job_id)
    if job is None:
        raise NotFound("job_not_found", f"no job {job_id!r}")
    return job.view()


@router.get("/jobs", tags=["jobs"], response_model=list[JobOut],
            summary="Recompute jobs, in the order they were recorded (paged)")
async def get_jobs(ctx: FundingContext, org: Acting, page: Page, request: Request,
                   response: Response) -> list[dict]:
    require(org, Action.VIEW_JOBS)
    [after] = page.after_as(int)
    async with ctx.pool.acquire() as conn:
        rows = await jobs.jobs_after(conn, after, page.fetch_size())
    return [j.view() for j in answer_page(rows, lambda j: (j.seq,), page, request, response)]


# -- the ledger ------------------------------------------------------------------------------

def ledger_payee(org: Organisation) -> str | None:
    """None: ``org`` may read every line; otherwise the one payee whose lines it may read (an
    institution's own). 403 for an organisation that reads no ledger line."""
    if authorise(org, Action.VIEW_LEDGER).allowed:
        return None
    require(org, Action.VIEW_LEDGER, Target(institution_id=org.institution_id))
    return org.institution_id


@router.get("/ledger", tags=["ledger"], response_model=list[LineOut],
            summary="Ledger lines, filtered by payee, class, worker, fund or status (paged, "
                    "by class, worker, rule and sequence)")
async def get_ledger(ctx: FundingContext, page: Page, request: Request, response: Response,
                     payee_id: QueryId = None, class_id: QueryId = None,
                     worker_id: QueryId = None, fund: QueryId = None,
                     line_status: Annotated[str | None, Query(alias="status",
                                                              max_length=40)] = None,
                     *, org: Acting) -> list[LineOut]:
    only_payee = ledger_payee(org)
    if only_payee is not None:
        if payee_id not in (None, only_payee):
            return []
        payee_id = only_payee
    wanted = {"payee_id": payee_id, "class_id": class_id, "worker_id": worker_id,
              "fund": fund, "status": line_status}
    await read_models.ensure_ready(ctx.pool)
    async with ctx.pool.acquire() as conn:
        lines = await _ledger_page(conn, wanted, page)
    return [LineOut.of(x) for x in answer_page(lines, _line_key, page, request, response)]


async def _ledger_page(conn: asyncpg.Connection, wanted: dict[str, str | None],
                       page: PageRequest) -> list[LedgerLine]:
    """One page of the settled lines that match ``wanted``, in the order of ``_line_key``
    (byte order, as the cursor compares), from an index that starts with the filter."""
    where, args = [], []
    for column, value in wanted.items():
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    after = page.after_as(str, str, str, int)
    if page.after is not None:
        args.extend(after)
        n = len(args)
        where.append(f'(class_id COLLATE "C", worker_id COLLATE "C", rule COLLATE "C", seq)'
                     f" > (${n - 3}, ${n - 2}, ${n - 1}, ${n})")
    args.append(page.fetch_size())
    rows = await conn.fetch(
        f"""SELECT * FROM funding_ledger WHERE {' AND '.join(where) or 'true'}
            ORDER BY class_id COLLATE "C", worker_id COLLATE "C", rule COLLATE "C", seq
            LIMIT ${len(args)}""", *args)
    return [read_models.settled_line(r) for r in rows]


def _line_key(line: LedgerLine) -> tuple[str, str, str, int]:
    return line.class_id, line.worker_id, line.rule, line.seq


@router.get("/ledger/{line_id}", tags=["ledger"], response_model=LineOut,
            responses={404: {"description": "No such line"}})
async def get_line(line_id: PathId, ctx: FundingContext, org: Acting) -> LineOut:
    only_payee = ledger_payee(org)
    await read_models.ensure_ready(ctx.pool)
    async with ctx.pool.acquire() as conn:
        line = next(iter(await read_models.lines_by_id(conn, [line_id])), None)
    # A line payable to someone else is not found, as an unknown one: its existence is not
    # the institution's to learn.
    if line is None or only_payee not in (None, line.payee_id):
        raise NotFound("line_not_found", f"no ledger line {line_id!r}")
    return LineOut.of(line)


@router.get("/grants/estimate", tags=["ledger"],
            summary="Grant calculator: the estimate under the policy in force, and, for a "
                    "class, what is due and paid")
async def get_estimate(ctx: FundingContext, org: Acting,
                       occupation: Annotated[str, Query(max_length=40)],
                       level: Annotated[int, Query(ge=1, le=5)],
                       # a work site's limits, so a bad one is a 422, not a failed WorkSite
                       province: Annotated[str, Query(min_length=1, max_length=40)],
                       city: Annotated[str, Query(min_length=1, max_length=40)],
                       first_session: date,
                       # bounded so that an estimate stays a sane figure: at most a
                       # year of days for a class of at most MAX_ESTIMATE_TRAINEES
                       days: Annotated[int, Query(ge=0, le=366)],
                       trainees: Annotated[int, Query(ge=1, le=MAX_ESTIMATE_TRAINEES)] = 1,
                       class_id: QueryId = None, worker_id: QueryId = None) -> dict:
    require(org, Action.VIEW_FUNDING_POLICY)
    site = WorkSite(province=province, city=city, site_name="-")
    async with ctx.pool.acquire() as conn:
        refs = await _policies(conn)
        ledger = await _class_ledger(ctx, conn, class_id) if class_id else None
    estimate = grants.estimate_grant(refs, occupation=occupation, level=level, site=site,
                                     first_session=first_session, days=days, trainees=trainees)
    if estimate is None:
        raise NotFound("no_rate", "no policy in force, or no catalogue rate for that "
                                  "occupation and level")
    out: dict = {"estimate": dataclasses.asdict(estimate)}
    # What is due and paid for the class: only for those who may read the whole ledger.
    if ledger is not None and class_id is not None and authorise(org,
                                                                 Action.VIEW_LEDGER).allowed:
        comparison = grants.compare(estimate, ledger, class_id=class_id, worker_id=worker_id)
        out |= {"due_fen": comparison.due_fen, "paid_fen": comparison.paid_fen}
    return out


async def _class_ledger(ctx: FundingContext, conn: asyncpg.Connection,
                        class_id: str) -> Ledger:
    """A class's settled lines (what ``grants.compare`` reads of the ledger)."""
    await read_models.ensure_ready(ctx.pool)
    rows = await conn.fetch("SELECT * FROM funding_ledger WHERE class_id = $1", class_id)
    return Ledger(lines=tuple(read_models.settled_line(r) for r in rows), funds=())


# -- disbursement ----------------------------------------------------------------------------

class BatchApproval(BaseModel):
    """Which due lines to approve. Who approves is the token's (its officer, or else the
    organisation): a body naming an approver is refused, not believed."""

    model_config = ConfigDict(extra="forbid")

    batch_id: NewId
    line_ids: list[Id] = Field(min_length=1, max_length=MAX_BATCH_LINES)


def approver(metadata: Metadata) -> str:
    """``DisbursementApproved.approved_by``: the officer whose token approved, else the
    organisation (its own token names no officer)."""
    name = metadata.actor.user or metadata.actor.org
    if not name:  # every route is authenticated, so an actor is always known here
        raise RuntimeError("an approval without an authenticated actor")
    return name


class Objection(BaseModel):
    objection_id: str = Field(min_length=1, max_length=80)
    line_id: Id
    ground: ObjectionGround


class Resolution(BaseModel):
    outcome: Literal["upheld", "dismissed"]


class Account(BaseModel):
    account_name: str = Field(min_length=1, max_length=120)
    account_number: str = Field(pattern=r"^[0-9]{8,30}$", max_length=30)
    bank_code: str = Field(min_length=1, max_length=20)


class InstructionRequest(BaseModel):
    instruction_id: str = Field(min_length=1, max_length=80)
    accounts: dict[Id, Account] = Field(
        max_length=MAX_BATCH_LINES,
        description="Bank account per payee id; used to write the file, never stored")


class Confirmation(BaseModel):
    instruction_id: Id
    bank_reference: str = Field(min_length=1, max_length=120)
    failed_line_ids: list[Id] = Field(default_factory=list, max_length=MAX_BATCH_LINES)


@router.post("/batches", status_code=status.HTTP_201_CREATED, tags=["disbursement"],
             response_model=list[dict],
             summary="Approve a batch of due lines; the public notice starts")
async def post_batch(body: BatchApproval, request: Request,
                     ctx: FundingContext, org: Acting, once: Idempotent) -> Response:
    cmd = disbursement.ApproveDisbursement(**body.model_dump(),
                                           approved_by=approver(acting_metadata(request, org)))
    return await execute(ctx, cmd, request, org, once)


@router.get("/batches/{batch_id}", tags=["disbursement"])
async def get_batch(batch_id: PathId, ctx: FundingContext, org: Acting) -> dict:
    require(org, Action.VIEW_BATCH)
    await read_models.ensure_ready(ctx.pool)
    async with ctx.pool.acquire() as conn:
        view = next(iter(await read_models.batch_views(conn, [batch_id])), None)
    if view is None:
        raise NotFound("batch_not_found", f"no batch {batch_id!r}")
    return {"batch_id": batch_id, "approved": view.approved.model_dump(mode="json"),
            "notice": view.notice.model_dump(mode="json") if view.notice else None,
            "objections": [{"objection_id": o, "line_id": lid, "state": s}
                           for o, lid, s in view.objections],
            "instruction_ids": list(view.instruction_ids)}


@router.post("/batches/{batch_id}/objections", status_code=status.HTTP_201_CREATED,
             tags=["disbursement"], response_model=list,
             summary="Raise an objection during the public notice")
async def post_objection(batch_id: PathId, body: Objection, request: Request, ctx: FundingContext,
                         org: Acting, once: Idempotent) -> Response:
    cmd = disbursement.RaiseObjection(batch_id=batch_id, **body.model_dump())
    return await execute(ctx, cmd, request, org, once)


@router.post("/batches/{batch_id}/objections/{objection_id}/resolution",
             tags=["disbursement"], response_model=list)
async def post_resolution(batch_id: PathId, objection_id: PathId, body: Resolution,
                          request: Request, ctx: FundingContext, org: Acting,
                          once: Idempotent) -> Response:
    cmd = disbursement.ResolveObjection(batch_id=batch_id, objection_id=objection_id,
                                        outcome=body.outcome)
    return await execute(ctx, cmd, request, org, once)


@router.post("/batches/{batch_id}/instructions", tags=["disbursement"],
             response_class=Response,
             responses={200: {"content": {"text/csv": {}},
                              "description": "The bank file; its SHA-256 in X-File-SHA256"}})
async def post_instruction(batch_id: PathId, body: InstructionRequest, request: Request,
                           ctx: FundingContext, org: Acting, once: Idempotent) -> Response:
    accounts = {k: BankAccount(**v.model_dump()) for k, v in body.accounts.items()}
    cmd = disbursement.IssuePaymentInstruction(instruction_id=body.instruction_id,
                                               batch_id=batch_id, accounts=accounts)
    metadata = acting_metadata(request, org)

    # The pipeline's ``execute`` answers JSON; the bank file is CSV, and its kept answer must
    # be sealed: so the route runs the command itself (``run``: the same pipeline) under its
    # Idempotency-Key.
    async def issue(conn: asyncpg.Connection | None) -> Response:
        file: commands.BankFile = (await run(ctx, cmd, org, metadata, conn)).body
        return Response(file.content, media_type="text/csv",
                        headers={"X-File-SHA256": file.sha256,
                                 "Content-Disposition":
                                     f'attachment; filename="{body.instruction_id}.csv"'})

    # The file names each payee's account, which funding never stores: the kept answer is
    # sealed under the request itself, so only a retry carrying the same accounts reads it.
    return await once.run(ctx.pool, org.org_id, issue, sealer=once.request_sealer())


@router.post("/batches/{batch_id}/confirmations", tags=["disbursement"], response_model=list)
async def post_confirmation(batch_id: PathId, body: Confirmation, request: Request,
                            ctx: FundingContext, org: Acting, once: Idempotent) -> Response:
    cmd = disbursement.ConfirmPayment(batch_id=batch_id, **body.model_dump())
    return await execute(ctx, cmd, request, org, once)


@router.post("/recoveries", status_code=status.HTTP_201_CREATED, tags=["disbursement"],
             response_model=dict)
async def post_recovery(body: disbursement.RecordRecovery, request: Request, ctx: FundingContext,
                        org: Acting, once: Idempotent) -> Response:
    return await execute(ctx, body, request, org, once)
