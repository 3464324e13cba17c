"""Recomputations of the ledger off the request path: jobs, and the runner that works them.

A policy publication can change any line, and re-deriving every worker's lines costs what
the whole history costs (a minute at a province's scale). So the publication only records a
**job** (``record_job``, in the publication's own transaction: the policy's event and its job
commit together or not at all) and answers at once; the service's runner (``run_jobs``, a
background loop) does the work in chunks:

- **One chunk, one transaction, under the ledger lock** (``step``): the next
  ``chunk`` workers after the job's cursor (worker ids in byte order), their lines
  re-derived by ``records.recompute`` (which refreshes the read models of the claims it
  changes, as every ledger writer does), then the cursor and the progress advanced in that
  same transaction. Between chunks the lock is free: reads, the consumer and commands go on.
- **Resumable.** Everything a chunk does commits with its cursor, so a service that stops
  (or crashes) between chunks continues from the cursor when it starts again; one that
  stops inside a chunk rolls that chunk back and does it again. Re-doing a chunk is harmless
  anyway: ``recompute`` compares with the recorded lines and writes only what differs.
- **Equal to the full pass.** The workers are those ``recompute(None)`` derives (the
  trainees of every completed class), together with every worker the ledger has a line of
  (so a line no longer derived is reported, as the full pass reports it); a worker's lines
  depend only on their own slice of the input log and the shared records, which is what
  ``derive_lines`` guarantees for any subset. The read models are refreshed claim by claim
  and the budget queue walked from the first change, which is ``settle``'s result whatever
  the grouping of the changes. Workers who appear after the job has passed their place are
  re-derived by the consumer, against every policy in the store. So when a job says
  ``done``, the ledger is what a one-shot recompute over the same history gives
  (``tests/integration/test_funding_jobs.py`` checks it, and after every chunk the read
  models equal ``settle``).
- **One at a time, in order.** A chunk works on the oldest unfinished job, chosen under the
  ledger lock, so several runners (several replicas) never work two jobs, or one chunk,
  at once. A publication while a job runs queues another job: the running one may have
  passed workers before the new version existed, so only a pass that starts after it has
  committed covers every worker. A queued job is not merged into a newer one: each
  publication's job tells its caller when that version's lines are all in the ledger.
- **Out of the reads' way.** A chunk runs in a process of its own at the lowest CPU
  priority (``chunk_worker.py``; ``recompute_in_worker_process``): the same ``step``, on
  its own connection, so every guarantee above holds whichever process runs it. In the
  service's process its CPU (thousands of records decoded and derived, hundreds of claims
  settled) would share the interpreter with the event loop that answers the reads, and
  every read would wait for it at each turn of the loop. A chunk's writes are a few
  statements whatever its size (the changed lines in one upsert, their payout events in one
  append, ``records.recompute``), so the ledger lock and the database are held briefly. After
  each chunk the runner pauses ``recompute_pause_ratio`` times the chunk's duration
  (``docs/benchmarks.md``, benchmark 9, has the measurements behind the defaults).
- **Failures.** A chunk that raises is rolled back and tried again after a pause; after
  ``MAX_FAILURES`` failures in a row the job is ``failed`` (its error kept) and the runner
  goes on with the next job, which re-derives every worker anyway.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from services.funding.records import lock_ledger, recompute
from shared.contracts import Metadata
from shared.contracts.training import ClassCompleted
from shared.eventsourcing.store import EventStore

log = structlog.get_logger(__name__)

RECOMPUTE_LEDGER = "recompute_ledger"  # every worker's lines, after a policy publication
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
MAX_FAILURES = 8  # in a row, each after a pause twice as long: about four minutes in all
_RETRY_PAUSE_CAP_SECONDS = 60.0
_COMPLETED = ClassCompleted.ce_type()

# Every worker a full recompute derives or reports (see the module's docstring), in byte
# order after the cursor (NULL: from the first).
_WORKERS = f"""
    SELECT w FROM (SELECT unnest(roster) AS w FROM funding_input_log
                   WHERE event_type = '{_COMPLETED}'
                   UNION SELECT worker_id FROM funding_ledger) AS every_worker
    WHERE $1::text IS NULL OR w COLLATE "C" > $1
    ORDER BY w COLLATE "C" LIMIT $2"""
_COUNT_WORKERS = f"""
    SELECT count(*) FROM (SELECT unnest(roster) AS w FROM funding_input_log
                          WHERE event_type = '{_COMPLETED}'
                          UNION SELECT worker_id FROM funding_ledger) AS every_worker"""


@dataclass(frozen=True)
class Job:
    seq: int
    job_id: str
    kind: str
    cause_event_id: str
    state: str
    workers_done: int
    workers_total: int | None
    cursor: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime

    @classmethod
    def of(cls, row: asyncpg.Record) -> Job:
        return cls(seq=row["seq"], job_id=str(row["job_id"]), kind=row["kind"],
                   cause_event_id=str(row["cause_event_id"]), state=row["state"],
                   workers_done=row["workers_done"], workers_total=row["workers_total"],
                   cursor=row["cursor"], error=row["error"], created_at=row["created_at"],
                   started_at=row["started_at"], finished_at=row["finished_at"],
                   updated_at=row["updated_at"])

    @property
    def finished(self) -> bool:
        return self.state in (DONE, FAILED)

    def view(self) -> dict[str, Any]:
        """What ``GET /jobs/{job_id}`` answers (no worker id: the cursor stays inside)."""
        total = self.workers_total
        if self.state == DONE:
            percent = 100
        elif not total:
            percent = 0
        else:
            percent = min(99, self.workers_done * 100 // total)
        return {"job_id": self.job_id, "kind": self.kind,
                "cause_event_id": self.cause_event_id, "state": self.state,
                "progress": {"done": self.workers_done, "total": total, "percent": percent},
                "created_at": self.created_at, "started_at": self.started_at,
                "finished_at": self.finished_at, "error": self.error}


async def record_job(conn: asyncpg.Connection, cause_event_id: str, metadata: Metadata,
                     kind: str = RECOMPUTE_LEDGER) -> Job:
    """Queue a recompute in the caller's transaction (the one that appends its cause)."""
    row = await conn.fetchrow(
        """INSERT INTO funding_jobs (job_id, kind, cause_event_id, metadata)
           VALUES ($1, $2, $3, $4) RETURNING *""",
        uuid.uuid4(), kind, uuid.UUID(cause_event_id), metadata.model_dump(mode="json"))
    assert row is not None
    return Job.of(row)


async def job_by_id(conn: asyncpg.Connection, job_id: str) -> Job | None:
    try:
        wanted = uuid.UUID(job_id)
    except ValueError:
        return None
    row = await conn.fetchrow("SELECT * FROM funding_jobs WHERE job_id = $1", wanted)
    return None if row is None else Job.of(row)


async def jobs_after(conn: asyncpg.Connection, after_seq: int | None, limit: int) -> list[Job]:
    """Jobs in the order they were recorded, after ``after_seq`` (a page of them)."""
    if after_seq is None:
        rows = await conn.fetch("SELECT * FROM funding_jobs ORDER BY seq LIMIT $1", limit)
    else:
        rows = await conn.fetch("SELECT * FROM funding_jobs WHERE seq > $1 ORDER BY seq "
                                "LIMIT $2", after_seq, limit)
    return [Job.of(r) for r in rows]


async def _oldest_unfinished(conn: asyncpg.Connection) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM funding_jobs WHERE state IN ('queued', 'running') ORDER BY seq LIMIT 1")


async def step(pool: asyncpg.Pool, store: EventStore, chunk: int) -> Job | None:
    """Do one chunk of the oldest unfinished job, in a transaction of its own under the
    ledger lock; the job as that transaction left it, or None when no job is waiting."""
    async with pool.acquire() as conn:
        if await _oldest_unfinished(conn) is None:  # the usual answer, without the lock
            return None
        async with conn.transaction():
            await lock_ledger(conn)
            row = await _oldest_unfinished(conn)  # chosen under the lock: one worker of it
            if row is None:
                return None
            total = row["workers_total"]
            if row["state"] == QUEUED:
                total = await conn.fetchval(_COUNT_WORKERS)
            workers = [r[0] for r in await conn.fetch(_WORKERS, row["cursor"], chunk)]
            await recompute(conn, store, workers, Metadata.model_validate(row["metadata"]))
            done = row["workers_done"] + len(workers)
            last = len(workers) < chunk
            updated = await conn.fetchrow(
                """UPDATE funding_jobs SET state = $2, workers_done = $3,
                       workers_total = $4, cursor = $5, failures = 0, error = NULL,
                       started_at = coalesce(started_at, now()),
                       finished_at = CASE WHEN $2 = 'done' THEN now() END, updated_at = now()
                   WHERE job_id = $1 RETURNING *""",
                row["job_id"], DONE if last else RUNNING, done,
                # workers who came after the count was taken are counted as they are done
                done if last else max(total, done), workers[-1] if workers else row["cursor"])
    job = Job.of(updated)
    if job.state == DONE:
        log.info("recompute job done", job_id=job.job_id, workers=job.workers_done)
    return job


async def _record_failure(pool: asyncpg.Pool, error: BaseException,
                          text: str | None = None) -> int:
    """The oldest unfinished job failed a chunk: count it, and fail the job after
    ``MAX_FAILURES`` in a row (the error's type and message are kept, for the operators).
    Returns the failures in a row so far."""
    text = (text or f"{type(error).__name__}: {error}")[:500]
    async with pool.acquire() as conn, conn.transaction():
        row = await _oldest_unfinished(conn)
        if row is None:
            return 1
        failed = row["failures"] + 1 >= MAX_FAILURES
        await conn.execute(
            """UPDATE funding_jobs SET failures = failures + 1, error = $2, updated_at = now(),
                   state = CASE WHEN $3 THEN 'failed' ELSE state END,
                   finished_at = CASE WHEN $3 THEN now() END
               WHERE job_id = $1""", row["job_id"], text, failed)
    log.error("recompute job chunk failed", job_id=str(row["job_id"]), failed=failed,
              error_type=type(error).__name__)
    return row["failures"] + 1


async def run_jobs(ctx: Any) -> None:
    """The service's background job runner: chunks of the oldest unfinished job, one after
    another, until the service stops; when no job waits, it looks again every
    ``recompute_poll_seconds``. Each chunk runs in the worker process (``chunk_worker``)
    unless ``recompute_in_worker_process`` is off, and is followed by a pause of
    ``recompute_pause_ratio`` times its own duration."""
    from services.funding.chunk_worker import ChunkFailed, ChunkWorker

    settings = ctx.settings
    worker = (ChunkWorker(settings.database_url, settings.log_level, settings.log_format)
              if settings.recompute_in_worker_process else None)

    async def one_step() -> Job | None:
        chunk = settings.recompute_chunk_workers
        if worker is None:
            return await step(ctx.pool, ctx.store, chunk)
        async with ctx.pool.acquire() as conn:  # the usual answer, here: no process started
            if await _oldest_unfinished(conn) is None:
                return None
        job = await worker.step(chunk)
        assert job is None or isinstance(job, Job)
        return job

    try:
        while True:
            started = time.monotonic()
            try:
                job = await one_step()
            except Exception as error:  # kept on the job, and tried again
                failures = 1  # not recorded (the database away): look again soon
                try:
                    failures = await _record_failure(
                        ctx.pool, error, str(error) if isinstance(error, ChunkFailed) else None)
                except Exception:  # the database is away: wait, try again
                    log.exception("recompute job failure not recorded")
                await asyncio.sleep(min(_RETRY_PAUSE_CAP_SECONDS, 2.0 ** failures))
                continue
            if job is None:
                await asyncio.sleep(settings.recompute_poll_seconds)
            elif job.state == DONE:
                await asyncio.sleep(0)  # let the requests waiting for the lock go first
            else:  # reads, the consumer and commands get the database and the CPU a while
                await asyncio.sleep(settings.recompute_pause_ratio
                                    * (time.monotonic() - started))
    finally:
        if worker is not None:
            worker.close()
