"""Funding's storage around the pure ledger: the input log, funding's own input events, the
persisted ledger lines, and the publication of each line as PayoutDue / PayoutReversed."""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg
import structlog

from services.funding import read_models
from services.funding.domain.entitlements import ClaimKey
from services.funding.domain.facts import Consumed
from services.funding.domain.ledger import (
    Ledger,
    LedgerLine,
    class_of,
    counts_only_once_completed,
    derive_lines,
    settle,
    worker_of,
)
from shared import tracing
from shared.contracts import Envelope, Metadata, model_for
from shared.contracts.funding import FundingPolicyPublished, PayoutDue, PayoutReversed
from shared.contracts.training import ClassCompleted
from shared.eventsourcing.store import EventStore, StoredEvent, StreamAppend
from shared.runtime.offload import off_loop

log = structlog.get_logger(__name__)

LEDGER_LOCK = 0x46554E44  # "FUND": one ledger writer at a time
OUTPUT_TYPES = (PayoutDue.ce_type(), PayoutReversed.ce_type())


def payout_stream(line_id: str) -> str:
    return f"payout-{line_id}"


async def lock_ledger(conn: asyncpg.Connection) -> None:
    """Take the ledger lock until the transaction on ``conn`` ends: one ledger writer at a
    time (a recompute, a disbursement decision, a policy published)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", LEDGER_LOCK)


# -- the input log ---------------------------------------------------------------------------

async def log_input(conn: asyncpg.Connection, envelope: Envelope, record: Consumed) -> bool:
    """Keep a consumed event; False if it was already there."""
    event = record.event
    roster = [t.worker_id for t in event.trainees] if isinstance(event, ClassCompleted) else []
    return bool(await conn.fetchval(
        """INSERT INTO funding_input_log (event_id, source, event_type, stream_id,
               stream_version, recorded_at, data, class_id, worker_id, roster)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (event_id) DO NOTHING RETURNING true""",
        envelope.id, envelope.source, envelope.type, record.stream_id, record.stream_version,
        record.recorded_at, envelope.data, class_of(event), worker_of(event), roster))


def _consumed(row: asyncpg.Record) -> Consumed:
    """A row of ``_INPUT_COLUMNS`` or ``_OWN_COLUMNS``, parsed: its data is JSON text."""
    return Consumed(event_id=str(row["event_id"]), stream_id=row["stream_id"],
                    stream_version=row["stream_version"], recorded_at=row["recorded_at"],
                    event=model_for(row["event_type"]).model_validate(json.loads(row["data"])))


# The data as JSON text, not through the pool's jsonb codec: the codec would parse it as the
# rows arrive, on the event loop; ``_consumed`` parses it where the rows are derived (a job's
# chunk: in a worker thread, thousands of records).
_INPUT_COLUMNS = "event_id, stream_id, stream_version, recorded_at, event_type, data::text"
_SHARED_TYPES = ["songji.assessment.AssessmentBodyRegistered.v1"]
_COMPLETED = ClassCompleted.ce_type()
_POLICY = FundingPolicyPublished.ce_type()
# Fewer input records are parsed and derived on the event loop (a worker's slice, which the
# consumer re-derives, is a few dozen; a thread's hand-over costs about as much as deriving
# ten or so, and 200 take a few milliseconds: about what a read waits for the loop anyway).
_INLINE_ROWS = 200


async def inputs_for(conn: asyncpg.Connection, workers: Sequence[str] | None) -> list[Consumed]:
    """The slice of the input log that the given workers' lines depend on (all if None):
    their own records, their classes' records (assessments included) and the shared ones,
    plus funding's policies (all of funding's own inputs if None)."""
    return [_consumed(r) for r in await input_rows(conn, workers)]


async def input_rows(conn: asyncpg.Connection,
                     workers: Sequence[str] | None) -> list[asyncpg.Record]:
    """``inputs_for``'s rows, not yet parsed (so the parsing can leave the event loop)."""
    if workers is None:
        rows = await conn.fetch(f"SELECT {_INPUT_COLUMNS} FROM funding_input_log")
        return [*rows, *await _own_rows(conn)]
    # Each arm on its own index (a worker's records, their classes' class-wide records, the
    # shared types), united by event id: one OR over the three columns made PostgreSQL scan
    # the whole log, about 75 ms at 360,000 records against 2 ms this way.
    rows = await conn.fetch(
        f"""WITH classes AS (
                SELECT class_id FROM funding_input_log
                WHERE worker_id = any($1) AND class_id IS NOT NULL
                UNION SELECT class_id FROM funding_input_log
                WHERE roster && $1 AND class_id IS NOT NULL),
            wanted AS (
                SELECT event_id FROM funding_input_log WHERE worker_id = any($1)
                UNION SELECT event_id FROM funding_input_log
                WHERE worker_id IS NULL AND class_id IN (SELECT class_id FROM classes)
                UNION SELECT event_id FROM funding_input_log WHERE event_type = any($2))
            SELECT {_INPUT_COLUMNS} FROM funding_input_log
            WHERE event_id IN (SELECT event_id FROM wanted)""",
        list(workers), _SHARED_TYPES)
    return [*rows, *await _policy_rows(conn)]


async def policy_inputs(conn: asyncpg.Connection) -> list[Consumed]:
    """Every published policy version, through the event-type index: as many rows as there
    are versions, however many batches and budget events funding has recorded."""
    return [_consumed(r) for r in await _policy_rows(conn)]


_OWN_COLUMNS = ("event_id, stream_id, version AS stream_version, recorded_at, event_type, "
                "data::text")


async def _policy_rows(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {_OWN_COLUMNS} FROM events WHERE event_type = $1", _POLICY)


async def _own_rows(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {_OWN_COLUMNS} FROM events
            WHERE event_type LIKE 'songji.funding.%' AND NOT event_type = any($1)""",
        list(OUTPUT_TYPES))


def stored_to_consumed(stored: StoredEvent) -> Consumed:
    return Consumed(event_id=str(stored.event_id), stream_id=stored.stream_id,
                    stream_version=stored.version, recorded_at=stored.recorded_at,
                    event=model_for(stored.event_type).model_validate(stored.data))


async def own_inputs(conn: asyncpg.Connection) -> list[Consumed]:
    """Funding's own policy, budget and disbursement events (not its published lines)."""
    return [_consumed(r) for r in await _own_rows(conn)]


async def affected_workers(conn: asyncpg.Connection, record: Consumed) -> list[str] | None:
    """Whose lines an input can change: None means everybody (policies, bodies), [] nobody."""
    event = record.event
    if counts_only_once_completed(event):
        # Under the ledger lock, so a completion consumed concurrently either is seen here
        # or re-derives after this record has committed (its recompute takes the lock).
        await lock_ledger(conn)
    if counts_only_once_completed(event) and not await conn.fetchval(
            "SELECT EXISTS (SELECT FROM funding_input_log WHERE class_id = $1 "
            "AND event_type = $2)", class_of(event), _COMPLETED):
        return []  # logged; the class's completion will re-derive its trainees
    worker = worker_of(event)
    if worker is not None:
        return [worker]
    if isinstance(event, ClassCompleted):
        return sorted({t.worker_id for t in event.trainees})
    class_id = class_of(event)
    if class_id is not None:  # a class (re)scheduled, an assessment: its trainees so far
        rows = await conn.fetch(
            """SELECT DISTINCT worker_id FROM funding_input_log
               WHERE class_id = $1 AND worker_id IS NOT NULL
               UNION SELECT DISTINCT unnest(roster) FROM funding_input_log WHERE class_id = $1""",
            class_id)
        return sorted(r[0] for r in rows)
    if record.event.__class__.__name__ in ("AssessmentBodyRegistered",
                                           "FundingPolicyPublished"):
        return None
    return []  # enrolment events and the like: no money


# -- the ledger ------------------------------------------------------------------------------

def _row_to_line(row: asyncpg.Record) -> LedgerLine:
    return LedgerLine(
        line_id=row["line_id"], seq=row["seq"], kind=row["kind"], rule=row["rule"],
        class_id=row["class_id"], worker_id=row["worker_id"], payee_kind=row["payee_kind"],
        payee_id=row["payee_id"], amount_fen=row["amount_fen"], policy_id=row["policy_id"],
        policy_version=row["policy_version"], justified_by=tuple(row["justified_by"]),
        corrects_line_id=row["corrects_line_id"], due_at=row["due_at"], note=row["note"])


async def recorded_lines(conn: asyncpg.Connection) -> list[LedgerLine]:
    rows = await conn.fetch("SELECT * FROM funding_ledger ORDER BY due_at, line_id")
    return [_row_to_line(r) for r in rows]


async def current_ledger(conn: asyncpg.Connection) -> Ledger:
    """The recorded lines with statuses from funding's own events, as of now: ``settle`` over
    the whole history (the auditor's, and the definition the read models are held to; the
    service reads them instead, see read_models.py)."""
    return settle(await own_inputs(conn), await recorded_lines(conn))


def _payout(line: LedgerLine) -> PayoutDue | PayoutReversed:
    common = dict(line_id=line.line_id, rule=line.rule, payee_kind=line.payee_kind,
                  payee_id=line.payee_id, class_id=line.class_id, worker_id=line.worker_id,
                  amount_fen=line.amount_fen, policy_id=line.policy_id,
                  policy_version=line.policy_version, justified_by=list(line.justified_by),
                  due_at=line.due_at)
    if line.amount_fen < 0:
        return PayoutReversed(corrects_line_id=line.corrects_line_id, **common)
    return PayoutDue(corrects_line_id=line.corrects_line_id, **common)


def _same(line: LedgerLine, row: asyncpg.Record) -> bool:
    return _row_to_line(row) == line


async def recompute(conn: asyncpg.Connection, store: EventStore,
                    workers: Sequence[str] | None, metadata: Metadata) -> int:
    """Re-derive the lines of ``workers`` (all if None) inside the caller's transaction;
    persist new or changed lines and publish each through funding's store. Returns how many
    lines were published."""
    if workers is not None and not workers:
        return 0
    with tracing.span("funding.derive", attributes={
            "songji.workers": -1 if workers is None else len(workers)}):
        return await _recompute(conn, store, workers, metadata)


async def _recompute(conn: asyncpg.Connection, store: EventStore,
                     workers: Sequence[str] | None, metadata: Metadata) -> int:
    await lock_ledger(conn)
    await read_models.ensure_ready_locked(conn)
    rows = await input_rows(conn, workers)

    def derive() -> list[LedgerLine]:
        return derive_lines([_consumed(r) for r in rows], workers)

    # Parsing and deriving is the CPU of a recompute: a job's chunk (hundreds of workers)
    # leaves the event loop; one worker's slice (the consumer's case) stays.
    lines = await off_loop(derive, size=len(rows), inline_below=_INLINE_ROWS)
    known = {r["line_id"]: r for r in await conn.fetch(
        "SELECT * FROM funding_ledger WHERE line_id = any($1)", [x.line_id for x in lines])}
    changed: set[ClaimKey] = set()
    upserts: list[tuple[LedgerLine, int]] = []  # (line, its revision)
    for line in lines:
        row = known.get(line.line_id)
        if row is not None and _same(line, row):
            continue
        changed.add(line.key)
        if row is not None:
            log.warning("ledger line revised by a late event", line_id=line.line_id,
                        old_amount=row["amount_fen"], new_amount=line.amount_fen)
        upserts.append((line, 1 if row is None else row["revision"] + 1))
    if upserts:
        # Every changed line in one statement, and its payout event in its line's stream in
        # one append (a round trip each, however many lines: a job's chunk changes hundreds).
        # A line's stream is at the revision its row had, under the ledger lock; a stream that
        # moved on anyway refuses the whole append, and the caller's transaction rolls back.
        await _upsert_lines(conn, upserts)
        await store.append_to_streams(
            [StreamAppend(payout_stream(line.line_id), revision - 1, [_payout(line)])
             for line, revision in upserts], metadata, conn=conn)
    # the settled read models follow the lines, in this transaction (read_models.py)
    await read_models.refresh(conn, changed)
    stale = await _stale_lines(conn, workers, {x.line_id for x in lines})
    for line_id in stale:  # a line the history no longer produces (late event); never silent
        log.warning("ledger line no longer derived", line_id=line_id)
    return len(upserts)


# Lines written together, a column an array each (``justified_by`` as JSON texts: a ragged
# array of arrays has no SQL array type); a line id appears once in a derivation.
_UPSERT_LINES = """
    INSERT INTO funding_ledger AS l (line_id, seq, kind, rule, class_id, worker_id, payee_kind,
        payee_id, amount_fen, policy_id, policy_version, justified_by, corrects_line_id,
        due_at, note, revision, updated_at)
    SELECT u.line_id, u.seq, u.kind, u.rule, u.class_id, u.worker_id, u.payee_kind, u.payee_id,
           u.amount_fen, u.policy_id, u.policy_version, u.justified_by::jsonb,
           u.corrects_line_id, u.due_at, u.note, u.revision, now()
      FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::text[], $6::text[],
                  $7::text[], $8::text[], $9::bigint[], $10::text[], $11::integer[],
                  $12::text[], $13::text[], $14::timestamptz[], $15::text[], $16::integer[])
           AS u(line_id, seq, kind, rule, class_id, worker_id, payee_kind, payee_id,
                amount_fen, policy_id, policy_version, justified_by, corrects_line_id, due_at,
                note, revision)
    ON CONFLICT (line_id) DO UPDATE SET seq = EXCLUDED.seq, kind = EXCLUDED.kind,
        rule = EXCLUDED.rule, class_id = EXCLUDED.class_id, worker_id = EXCLUDED.worker_id,
        payee_kind = EXCLUDED.payee_kind, payee_id = EXCLUDED.payee_id,
        amount_fen = EXCLUDED.amount_fen, policy_id = EXCLUDED.policy_id,
        policy_version = EXCLUDED.policy_version, justified_by = EXCLUDED.justified_by,
        corrects_line_id = EXCLUDED.corrects_line_id, due_at = EXCLUDED.due_at,
        note = EXCLUDED.note, revision = EXCLUDED.revision, updated_at = now()"""


async def _upsert_lines(conn: asyncpg.Connection,
                        upserts: Sequence[tuple[LedgerLine, int]]) -> None:
    await conn.execute(_UPSERT_LINES, *(list(column) for column in zip(*(
        (x.line_id, x.seq, x.kind, x.rule, x.class_id, x.worker_id, x.payee_kind, x.payee_id,
         x.amount_fen, x.policy_id, x.policy_version,
         json.dumps(list(x.justified_by), separators=(",", ":"), ensure_ascii=False),
         x.corrects_line_id, x.due_at, x.note, revision)
        for x, revision in upserts), strict=True)))


async def _stale_lines(conn: asyncpg.Connection, workers: Sequence[str] | None,
                       derived: set[str]) -> list[str]:
    if workers is None:
        rows = await conn.fetch("SELECT line_id FROM funding_ledger")
    else:
        rows = await conn.fetch("SELECT line_id FROM funding_ledger WHERE worker_id = any($1)",
                                list(workers))
    return sorted(r[0] for r in rows if r[0] not in derived)

