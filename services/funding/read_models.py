"""The settled ledger as read models, kept equal to ``settle`` in the transaction of every
change, at a cost that follows the change rather than the history.

``settle`` (domain/ledger.py) stays the definition. It has two parts, and so does the refresh:

1. **Per claim.** A claim's statuses, what is left to pay, its batch, and what its decided
   lines hold of each fund depend only on the claim's lines and on what funding's own
   disbursement events say of *those* lines. Each such event is kept cut down to each line
   it names (``funding_line_facts``: the batch's approval of the line, its item of an
   instruction, the confirmation's word on it, an objection, a resolution, a recovery), so
   a claim is re-settled by ``settle`` itself over its lines and their facts alone. A line
   that comes out ``awaiting_budget`` there (no allocation is given) is one the budget
   decides: it is in the queue.
2. **The queue.** Budget goes first come first served in (due time, line id) order over the
   queue, each line to the first fund by name with enough available. Lines before the first
   position a change can affect keep their funds: that position is the earliest queue
   entry that changed (added, removed, another amount or due time), or, where a fund's base
   figures changed (an allocation; a claim's decided lines holding more or less of it), the
   first queued line that is waiting or charged to that fund or one after it by name (a line
   charged to an earlier fund chose it over this one on figures that did not change). From
   there the greedy runs again beside the old assignment, with the difference of each fund's
   availability between the two, and stops once both are waiting, or the differences are
   all zero and no changed entry is ahead: everything after is then as it was.

A policy publication re-derives every line, so its recompute re-settles every claim whose
line changed (and walks the queue from the first of them): the full pass, for that change
only. A store from before these tables is filled once from the same code (``ensure_ready``).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.funding.domain.entitlements import ClaimKey
from services.funding.domain.facts import Consumed, canonical
from services.funding.domain.ledger import (
    AWAITING_BUDGET,
    DUE,
    BatchView,
    FundPosition,
    Ledger,
    LedgerLine,
    settle,
)
from shared.contracts import Event, model_for
from shared.contracts.funding import (
    BudgetAllocated,
    DisbursementApproved,
    ObjectionRaised,
    ObjectionResolved,
    PaymentConfirmed,
    PaymentInstructionIssued,
    PublicNoticeStarted,
    RecoveryReceived,
)
from shared.runtime.offload import off_loop

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WALK_CHUNK = 500
# Fewer ledger rows are settled on the event loop (a claim or a class's claims); a job's
# chunk settles hundreds, 15 ms or more of CPU that a read would wait behind.
_INLINE_ROWS = 100
Position = tuple[datetime, str]  # (due time, line id): the budget queue's order


def settled_line(row: asyncpg.Record) -> LedgerLine:
    """A line of the read model, as ``settle`` gives it."""
    return LedgerLine(
        line_id=row["line_id"], seq=row["seq"], kind=row["kind"], rule=row["rule"],
        class_id=row["class_id"], worker_id=row["worker_id"], payee_kind=row["payee_kind"],
        payee_id=row["payee_id"], amount_fen=row["amount_fen"], policy_id=row["policy_id"],
        policy_version=row["policy_version"], justified_by=tuple(row["justified_by"]),
        corrects_line_id=row["corrects_line_id"], due_at=row["due_at"], note=row["note"],
        status=row["status"] or "", payable_fen=row["payable_fen"], fund=row["fund"],
        batch_id=row["batch_id"])


# -- funding's own events, as they bear on lines and batches --------------------------------

async def _fact(conn: asyncpg.Connection, line_id: str, event: Event, fact_id: str) -> None:
    # The first fact of an id wins, as in ``Facts`` (a reused id is refused anyway).
    await conn.execute(
        """INSERT INTO funding_line_facts (line_id, event_type, fact_id, data)
           VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING""",
        line_id, event.ce_type(), fact_id, event.model_dump(mode="json"))


async def record_own(conn: asyncpg.Connection, event: Event,
                     allocations: dict[str, int]) -> set[str]:
    """Keep what one of funding's own events says in the fact and batch tables; returns the
    lines whose state it can change (an allocation is added to ``allocations``)."""
    lines: set[str] = set()
    match event:
        case BudgetAllocated():
            allocations[event.fund] = allocations.get(event.fund, 0) + event.amount_fen
        case DisbursementApproved():
            if await conn.fetchval(
                    """INSERT INTO funding_batches (batch_id, approved) VALUES ($1, $2)
                       ON CONFLICT DO NOTHING RETURNING true""",
                    event.batch_id, event.model_dump(mode="json")):
                await conn.executemany(
                    "INSERT INTO funding_batch_lines VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    [(event.batch_id, al.line_id) for al in event.lines])
            for al in event.lines:
                await _fact(conn, al.line_id, event.model_copy(update={"lines": [al]}),
                            event.batch_id)
                lines.add(al.line_id)
        case PublicNoticeStarted():
            await conn.execute(
                "UPDATE funding_batches SET notice = $2 WHERE batch_id = $1 AND notice IS NULL",
                event.batch_id, event.model_dump(mode="json"))
        case ObjectionRaised():
            await conn.execute(
                """INSERT INTO funding_objections VALUES ($1, $2, $3, 'open')
                   ON CONFLICT DO NOTHING""", event.objection_id, event.batch_id, event.line_id)
            await _fact(conn, event.line_id, event, event.objection_id)
            lines.add(event.line_id)
        case ObjectionResolved():
            await conn.execute(
                """UPDATE funding_objections SET state = $2
                   WHERE objection_id = $1 AND state = 'open'""",
                event.objection_id, event.outcome)
            await _fact(conn, event.line_id, event, event.objection_id)
            lines.add(event.line_id)
        case PaymentInstructionIssued():
            await conn.execute("INSERT INTO funding_instructions VALUES ($1, $2, false) "
                               "ON CONFLICT DO NOTHING", event.instruction_id, event.batch_id)
            for item in event.items:
                await _fact(conn, item.line_id, event.model_copy(update={
                    "items": [item], "total_fen": item.amount_fen}), event.instruction_id)
                lines.add(item.line_id)
        case PaymentConfirmed():
            await conn.execute("UPDATE funding_instructions SET confirmed = true "
                               "WHERE instruction_id = $1", event.instruction_id)
            carried = [r[0] for r in await conn.fetch(
                "SELECT line_id FROM funding_line_facts WHERE event_type = $1 AND fact_id = $2",
                PaymentInstructionIssued.ce_type(), event.instruction_id)]
            failed = set(event.failed_line_ids)
            for line_id in carried:
                await _fact(conn, line_id, event.model_copy(update={
                    "failed_line_ids": [line_id] if line_id in failed else []}),
                    event.instruction_id)
                lines.add(line_id)
        case RecoveryReceived():
            await _fact(conn, event.line_id, event, event.recovery_id)
            lines.add(event.line_id)
    return lines


async def project(conn: asyncpg.Connection, events: Sequence[Event]) -> None:
    """The pipeline's projection of funding's own events, in the command's transaction,
    under the ledger lock its look-up took."""
    await ensure_ready_locked(conn)
    allocations: dict[str, int] = {}
    lines: set[str] = set()
    for event in events:
        lines |= await record_own(conn, event, allocations)
    if lines or allocations:
        await refresh(conn, await claims_of(conn, lines), allocations)


async def claims_of(conn: asyncpg.Connection, line_ids: Iterable[str]) -> set[ClaimKey]:
    rows = await conn.fetch("SELECT DISTINCT rule, class_id, worker_id FROM funding_ledger "
                            "WHERE line_id = any($1)", list(line_ids))
    return {(r[0], r[1], r[2]) for r in rows}


# -- the refresh -----------------------------------------------------------------------------

@dataclass
class _FundChange:
    committed: int = 0
    paid: int = 0
    recovered: int = 0
    allocated: int = 0
    refs: int = 0

    @property
    def available(self) -> int:
        return self.allocated - self.committed - self.paid + self.recovered


def _fact_event(row: asyncpg.Record) -> Event:
    return model_for(row["event_type"]).model_validate(row["data"])


def _merged(events: list[Event]) -> list[Consumed]:
    """The facts of a claim's lines as records for ``settle``: the cuts of one event (one
    batch's approval, instruction or confirmation of several of the claim's lines) joined
    again into one, since ``Facts`` keeps one event per batch, instruction or objection id."""
    joined: dict[tuple[str, str], Event] = {}
    for event in events:
        key = (event.ce_type(), _fact_id(event))
        seen = joined.get(key)
        if seen is None:
            joined[key] = event
        elif isinstance(event, DisbursementApproved):
            joined[key] = seen.model_copy(update={"lines": [*seen.lines, *event.lines]})
        elif isinstance(event, PaymentInstructionIssued):
            joined[key] = seen.model_copy(update={
                "items": [*seen.items, *event.items],
                "total_fen": seen.total_fen + event.total_fen})
        elif isinstance(event, PaymentConfirmed):
            joined[key] = seen.model_copy(update={
                "failed_line_ids": [*seen.failed_line_ids, *event.failed_line_ids]})
    return [Consumed(event_id=f"{t}|{i}", stream_id="", stream_version=0, recorded_at=_EPOCH,
                     event=e) for (t, i), e in sorted(joined.items())]


def _fact_id(event: Event) -> str:
    match event:
        case DisbursementApproved():
            return event.batch_id
        case PaymentInstructionIssued() | PaymentConfirmed():
            return event.instruction_id
        case ObjectionRaised() | ObjectionResolved():
            return event.objection_id
        case RecoveryReceived():
            return event.recovery_id
    raise TypeError(f"no line fact is a {type(event).__name__}")


async def refresh(conn: asyncpg.Connection, claims: set[ClaimKey],
                  allocations: dict[str, int] | None = None) -> None:
    """Settle ``claims`` again (their lines or their lines' facts changed) and the budget
    queue from the first position that can differ, with ``allocations`` (fund -> money added)."""
    changes: dict[str, _FundChange] = defaultdict(_FundChange)
    for fund, amount in (allocations or {}).items():
        changes[fund].allocated += amount
        # an allocation names the fund once, however many it takes
    new_queue_entries: dict[str, Position] = {}
    old_queue_entries: list[tuple[Position, str | None, int]] = []
    if claims:
        await _settle_claims(conn, claims, changes, new_queue_entries, old_queue_entries)
    for fund in allocations or {}:
        if await conn.fetchval("SELECT allocated_fen = 0 FROM funding_funds WHERE fund = $1",
                               fund) in (None, True):
            changes[fund].refs += 1  # the fund's first allocation lists it
    for fund, c in changes.items():
        await conn.execute(
            """INSERT INTO funding_funds AS f (fund, allocated_fen, committed_fen, paid_fen,
                   recovered_fen, refs) VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (fund) DO UPDATE SET allocated_fen = f.allocated_fen + $2,
                   committed_fen = f.committed_fen + $3, paid_fen = f.paid_fen + $4,
                   recovered_fen = f.recovered_fen + $5, refs = f.refs + $6""",
            fund, c.allocated, c.committed, c.paid, c.recovered, c.refs)
    base_delta = {f: c.available for f, c in changes.items() if c.available}
    await _walk_queue(conn, base_delta, new_queue_entries, old_queue_entries)


async def _settle_claims(conn: asyncpg.Connection, claims: set[ClaimKey],
                         changes: dict[str, _FundChange],
                         new_queue_entries: dict[str, Position],
                         old_queue_entries: list[tuple[Position, str | None, int]]) -> None:
    keys = sorted(claims)
    columns = ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])
    rows = await conn.fetch(
        """SELECT l.* FROM funding_ledger l
           JOIN unnest($1::text[], $2::text[], $3::text[]) AS c(rule, class_id, worker_id)
             ON l.class_id = c.class_id AND l.worker_id = c.worker_id AND l.rule = c.rule""",
        *columns)
    old_funds = await conn.fetch(
        """DELETE FROM funding_claim_funds f
           USING unnest($1::text[], $2::text[], $3::text[]) AS c(rule, class_id, worker_id)
           WHERE f.class_id = c.class_id AND f.worker_id = c.worker_id AND f.rule = c.rule
           RETURNING f.fund, f.committed_fen, f.paid_fen, f.recovered_fen""", *columns)
    for r in old_funds:
        change = changes[r["fund"]]
        change.committed -= r["committed_fen"]
        change.paid -= r["paid_fen"]
        change.recovered -= r["recovered_fen"]
        change.refs -= 1
    facts: dict[str, list[Event]] = defaultdict(list)
    for r in await conn.fetch("SELECT * FROM funding_line_facts WHERE line_id = any($1)",
                              [r["line_id"] for r in rows]):
        facts[r["line_id"]].append(_fact_event(r))
    by_claim: dict[ClaimKey, list[asyncpg.Record]] = defaultdict(list)
    for r in rows:
        by_claim[(r["rule"], r["class_id"], r["worker_id"])].append(r)
    updates: list[tuple[Any, ...]] = []
    new_funds: list[tuple[Any, ...]] = []
    old = {r["line_id"]: r for r in rows}
    # Claims whose lines no disbursement event names are settled together, in one call: with
    # no facts, ``settle`` treats each claim alone and charges no fund (so the union of
    # their results is each one's). The others, one call each, to know each one's funds.
    undisbursed = [rs for rs in by_claim.values()
                   if not any(facts[r["line_id"]] for r in rs)]
    groups: list[tuple[ClaimKey | None, list[asyncpg.Record]]] = [
        (None, [r for rs in undisbursed for r in rs])]
    groups += [(key, rs) for key, rs in by_claim.items()
               if any(facts[r["line_id"]] for r in rs)]

    def settle_groups() -> None:
        for key, claim_rows in groups:
            # in the order the whole ledger gives them to ``settle`` (records.recorded_lines)
            lines = [_bare(r) for r in sorted(claim_rows, key=lambda r: (r["due_at"],
                                                                          r["line_id"]))]
            ledger = settle(_merged([f for x in lines for f in facts[x.line_id]]), lines)
            if key is None and ledger.funds:
                raise AssertionError("claims without disbursement facts charged a fund")
            held = {lid for b in ledger.batches for lid in b.open_objections}
            withheld = {lid for b in ledger.batches for lid in b.withheld}
            for f in ledger.funds:
                assert key is not None
                new_funds.append((*key, f.fund, f.committed_fen, f.paid_fen, f.recovered_fen))
                change = changes[f.fund]
                change.committed += f.committed_fen
                change.paid += f.paid_fen
                change.recovered += f.recovered_fen
                change.refs += 1
            for x in ledger.lines:
                row = old[x.line_id]
                status, fund, queued_at = x.status, x.fund, None
                if status == AWAITING_BUDGET:  # the budget queue decides its fund
                    queued_at = x.due_at
                    same = (row["queued_at"] == x.due_at and row["payable_fen"] == x.payable_fen)
                    if same:
                        status, fund = row["status"], row["fund"]
                    else:
                        fund = None
                        new_queue_entries[x.line_id] = (x.due_at, x.line_id)
                else:
                    same = row["queued_at"] is None
                if row["queued_at"] is not None and not same:
                    old_queue_entries.append(((row["queued_at"], x.line_id), row["fund"],
                                              row["payable_fen"]))
                updates.append((x.line_id, status, x.payable_fen, fund, x.batch_id,
                                x.line_id in held, x.line_id in withheld, queued_at))

    # the CPU of a job's chunk (hundreds of claims) leaves the event loop (offload.py)
    await off_loop(settle_groups, size=len(rows), inline_below=_INLINE_ROWS)
    await conn.executemany(
        """INSERT INTO funding_claim_funds (rule, class_id, worker_id, fund, committed_fen,
               paid_fen, recovered_fen) VALUES ($1, $2, $3, $4, $5, $6, $7)""", new_funds)
    if not updates:
        return
    await conn.execute(
        """UPDATE funding_ledger l SET status = u.status, payable_fen = u.payable_fen,
               fund = u.fund, batch_id = u.batch_id, held = u.held, withheld = u.withheld,
               queued_at = u.queued_at
           FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],
                       $6::boolean[], $7::boolean[], $8::timestamptz[])
                AS u(line_id, status, payable_fen, fund, batch_id, held, withheld, queued_at)
           WHERE l.line_id = u.line_id""",
        *(list(column) for column in zip(*updates, strict=True)))


def _bare(row: asyncpg.Record) -> LedgerLine:
    """The recorded line without its settlement (what ``settle`` is given)."""
    line = settled_line(row)
    return LedgerLine(**{**vars(line), "status": "", "payable_fen": 0, "fund": None,
                         "batch_id": None})


async def _walk_queue(conn: asyncpg.Connection, base_delta: dict[str, int],
                      new_entries: dict[str, Position],
                      old_entries: list[tuple[Position, str | None, int]]) -> None:
    """Give the budget to the queue again from the first position a change can affect (see
    the module's docstring); ``base_delta``: each fund's availability before any queued line,
    new minus old; ``new_entries``: queued lines to decide (their fund is NULL now);
    ``old_entries``: the queue entries they replaced, as (position, fund, payable)."""
    starts = [p for p, _, _ in old_entries] + list(new_entries.values())
    if base_delta:
        first = await conn.fetchrow(
            """SELECT queued_at, line_id FROM funding_ledger
               WHERE queued_at IS NOT NULL AND (fund IS NULL OR fund COLLATE "C" >= $1)
               ORDER BY queued_at, line_id COLLATE "C" LIMIT 1""", min(base_delta))
        if first is not None:
            starts.append((first[0], first[1]))
    if not starts:
        return
    start, last_changed = min(starts), max(starts)
    funds = {r["fund"]: r for r in await conn.fetch("SELECT * FROM funding_funds")}
    suffix: dict[str, int] = defaultdict(int)
    for r in await conn.fetch(
            """SELECT fund, sum(payable_fen) FROM funding_ledger
               WHERE queued_at IS NOT NULL AND fund IS NOT NULL
                 AND (queued_at, line_id COLLATE "C") >= ($1, $2) GROUP BY fund""", *start):
        suffix[r[0]] += r[1]
    for _, fund, payable in old_entries:
        if fund is not None:
            suffix[fund] += payable
    available = {name: f["allocated_fen"] - f["committed_fen"] - f["paid_fen"]
                 + f["recovered_fen"] - (f["queued_fen"] - suffix[name])
                 for name, f in funds.items()}
    candidates = sorted(name for name, f in funds.items() if f["allocated_fen"] > 0)
    delta: dict[str, int] = defaultdict(int, base_delta)  # available: new minus old
    waiting = await conn.fetchval(
        """SELECT EXISTS (SELECT FROM funding_ledger WHERE queued_at IS NOT NULL
               AND fund IS NULL AND (queued_at, line_id COLLATE "C") < ($1, $2))""", *start)
    old_waiting = new_waiting = bool(waiting)
    queued_change: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # fund -> [fen, refs]
    writes: list[tuple[str, str | None, str]] = []
    old_only = deque(sorted(old_entries))

    def take_old(fund: str | None, payable: int) -> None:
        nonlocal old_waiting
        if fund is None:
            old_waiting = True
        else:
            delta[fund] += payable
            queued_change[fund][0] -= payable
            queued_change[fund][1] -= 1

    def converged(at: Position) -> bool:
        if at < last_changed:
            return False
        return (old_waiting and new_waiting) or (
            old_waiting == new_waiting and not any(delta.values()))

    after: Position | None = None
    done = False
    while not done:
        if after is None:
            rows = await conn.fetch(
                """SELECT line_id, queued_at, fund, payable_fen FROM funding_ledger
                   WHERE queued_at IS NOT NULL AND (queued_at, line_id COLLATE "C") >= ($1, $2)
                   ORDER BY queued_at, line_id COLLATE "C" LIMIT $3""", *start, _WALK_CHUNK)
        else:
            rows = await conn.fetch(
                """SELECT line_id, queued_at, fund, payable_fen FROM funding_ledger
                   WHERE queued_at IS NOT NULL AND (queued_at, line_id COLLATE "C") > ($1, $2)
                   ORDER BY queued_at, line_id COLLATE "C" LIMIT $3""", *after, _WALK_CHUNK)
        if not rows:
            while old_only:  # removed entries after the last queued line
                _, fund, payable = old_only.popleft()
                take_old(fund, payable)
            break
        for row in rows:
            at: Position = (row["queued_at"], row["line_id"])
            while old_only and old_only[0][0] < at:
                _, fund, payable = old_only.popleft()
                take_old(fund, payable)
            if row["line_id"] not in new_entries:
                take_old(row["fund"], row["payable_fen"])
            payable = row["payable_fen"]
            chosen = None
            if not new_waiting:  # strictly first come first served
                chosen = next((n for n in candidates if available[n] >= payable), None)
                new_waiting = chosen is None
            if chosen is not None:
                available[chosen] -= payable
                delta[chosen] -= payable
                queued_change[chosen][0] += payable
                queued_change[chosen][1] += 1
            if chosen != row["fund"] or row["line_id"] in new_entries:
                writes.append((row["line_id"], chosen,
                               DUE if chosen is not None else AWAITING_BUDGET))
            after = at
            if not old_only and converged(at):
                done = True
                break
    if writes:
        await conn.execute(
            """UPDATE funding_ledger l SET fund = w.fund, status = w.status
               FROM unnest($1::text[], $2::text[], $3::text[]) AS w(line_id, fund, status)
               WHERE l.line_id = w.line_id""",
            [w[0] for w in writes], [w[1] for w in writes], [w[2] for w in writes])
    for fund, (fen, refs) in queued_change.items():
        if fen or refs:
            await conn.execute(
                """INSERT INTO funding_funds AS f (fund, queued_fen, refs) VALUES ($1, $2, $3)
                   ON CONFLICT (fund) DO UPDATE SET queued_fen = f.queued_fen + $2,
                       refs = f.refs + $3""", fund, fen, refs)


# -- filling the read models of an existing store --------------------------------------------

# Pools whose database was seen ready (kept, so that no other pool takes a freed one's id).
_ready: dict[int, asyncpg.Pool] = {}


async def ensure_ready_locked(conn: asyncpg.Connection) -> None:
    """Under the ledger lock: fill the read models from the store if they are not yet."""
    if await conn.fetchval("SELECT ready FROM funding_read_models"):
        return
    await backfill(conn)


async def ensure_ready(pool: asyncpg.Pool) -> None:
    """Before a read: the read models hold the store's ledger (filled once, under the ledger
    lock, for a store recorded before them)."""
    if id(pool) in _ready:
        return
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT ready FROM funding_read_models"):
            from services.funding.records import lock_ledger
            await lock_ledger(conn)
            await ensure_ready_locked(conn)
    _ready[id(pool)] = pool


async def fill_on_start(ctx: Any) -> None:
    """The service's background job: fill the read models of a store recorded before them
    as the service starts (a read, a command or a recompute would otherwise do it first)."""
    await ensure_ready(ctx.pool)
    await asyncio.Event().wait()  # a background job runs until the service stops


async def backfill(conn: asyncpg.Connection) -> None:
    """Fill every read model from the recorded lines and funding's own events: the facts
    and batches from the events in their canonical order, then every claim settled and the
    whole queue walked (the refresh from nothing)."""
    from services.funding.records import own_inputs
    await conn.execute(
        """TRUNCATE funding_funds, funding_claim_funds, funding_line_facts, funding_batches,
               funding_batch_lines, funding_objections, funding_instructions""")
    await conn.execute(
        """UPDATE funding_ledger SET status = NULL, payable_fen = 0, fund = NULL,
               batch_id = NULL, held = false, withheld = false, queued_at = NULL""")
    allocations: dict[str, int] = {}
    for record in canonical(await own_inputs(conn)):
        await record_own(conn, record.event, allocations)
    rows = await conn.fetch("SELECT DISTINCT rule, class_id, worker_id FROM funding_ledger")
    await refresh(conn, {(r[0], r[1], r[2]) for r in rows}, allocations)
    await conn.execute("UPDATE funding_read_models SET ready = true")


# -- reads -----------------------------------------------------------------------------------

async def batch_views(conn: asyncpg.Connection, batch_ids: Iterable[str]) -> list[BatchView]:
    """The batches' views, as ``Ledger.batches`` holds them, from their tables."""
    ids = sorted(set(batch_ids))
    batches = await conn.fetch("SELECT * FROM funding_batches WHERE batch_id = any($1) "
                               "ORDER BY batch_id COLLATE \"C\"", ids)
    flagged = await conn.fetch(
        """SELECT b.batch_id, l.line_id, l.held, l.withheld FROM funding_batch_lines b
           JOIN funding_ledger l USING (line_id)
           WHERE b.batch_id = any($1) AND (l.held OR l.withheld)""", ids)
    objections = await conn.fetch(
        """SELECT * FROM funding_objections WHERE batch_id = any($1)
           ORDER BY objection_id COLLATE "C" """, ids)
    instructions = await conn.fetch(
        """SELECT * FROM funding_instructions WHERE batch_id = any($1)
           ORDER BY instruction_id COLLATE "C" """, ids)
    views = []
    for b in batches:
        batch_id = b["batch_id"]
        mine = [r for r in flagged if r["batch_id"] == batch_id]
        views.append(BatchView(
            batch_id=batch_id,
            approved=DisbursementApproved.model_validate(b["approved"]),
            notice=(PublicNoticeStarted.model_validate(b["notice"]) if b["notice"] else None),
            open_objections=tuple(sorted(r["line_id"] for r in mine if r["held"])),
            withheld=tuple(sorted(r["line_id"] for r in mine if r["withheld"])),
            instruction_ids=tuple(r["instruction_id"] for r in instructions
                                  if r["batch_id"] == batch_id),
            objections=tuple((r["objection_id"], r["line_id"], r["state"])
                             for r in objections if r["batch_id"] == batch_id),
            confirmed_instruction_ids=tuple(r["instruction_id"] for r in instructions
                                            if r["batch_id"] == batch_id and r["confirmed"]),
        ))
    return views


async def lines_by_id(conn: asyncpg.Connection, line_ids: Iterable[str]) -> list[LedgerLine]:
    rows = await conn.fetch("SELECT * FROM funding_ledger WHERE line_id = any($1) "
                            "ORDER BY due_at, line_id COLLATE \"C\"", list(set(line_ids)))
    return [settled_line(r) for r in rows]


async def partial_ledger(conn: asyncpg.Connection, *, line_ids: Iterable[str] = (),
                         batch_ids: Iterable[str] = (), objection_ids: Iterable[str] = (),
                         instruction_ids: Iterable[str] = ()) -> Ledger:
    """The part of the settled ledger a decision reads: the lines it names, the batches it
    names or whose objection or instruction id it names, and those batches' lines. Each of
    them is as the whole ledger has it; ``funds`` is left empty (no decision reads it)."""
    batches = set(batch_ids)
    batches |= {r[0] for r in await conn.fetch(
        "SELECT batch_id FROM funding_objections WHERE objection_id = any($1)",
        list(objection_ids))}
    batches |= {r[0] for r in await conn.fetch(
        "SELECT batch_id FROM funding_instructions WHERE instruction_id = any($1)",
        list(instruction_ids))}
    views = await batch_views(conn, batches)
    wanted = set(line_ids) | {al.line_id for v in views for al in v.approved.lines}
    return Ledger(lines=tuple(await lines_by_id(conn, wanted)), funds=(),
                  batches=tuple(views))


async def fund_positions(conn: asyncpg.Connection, after: str | None,
                         limit: int) -> list[FundPosition]:
    rows = await conn.fetch(
        """SELECT * FROM funding_funds
           WHERE refs > 0 AND ($1::text IS NULL OR fund COLLATE "C" > $1)
           ORDER BY fund COLLATE "C" LIMIT $2""", after, limit)
    return [FundPosition(r["fund"], r["allocated_fen"], r["committed_fen"] + r["queued_fen"],
                         r["paid_fen"], r["recovered_fen"]) for r in rows]
