"""A service's verifications of its own store's hash chain, for the auditor (``routes``).

Verifying a store recomputes its whole chain: O(history), minutes on a large store, so never
inside a request. ``start`` records a run (table ``chain_verifications``, a kit migration) and
runs it in the background: it reads the service's sealed heads from its heads topic, then
checks the chain against them with ``verify_store``, the very code ``songji audit verify``
runs, ``EventStore.verify``'s batches at a time, recording its progress (positions checked of
the head read at the start) as it goes.

Bounds: one run at a time per store (across the service's copies: a new one is refused while
one runs, under a lock in the database); each run is given ``timeout`` seconds, then recorded
as failed; the chain is read in batches, each in a short read of its own.

What survives a restart: every run's row, so the latest verdict does. A run cut short by the
service stopping is marked ``interrupted``; one cut by a crash keeps ``running`` with a
heartbeat that stops moving, and is shown (and, at the next start, marked) as interrupted once
the heartbeat is older than ``stale_after``. An interrupted run is not resumed: the auditor
starts another.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Literal

import asyncpg
import structlog
from pydantic import BaseModel

from shared.audit.verify import verify_store
from shared.eventsourcing.heads import Seals
from shared.eventsourcing.store import EventStore

log = structlog.get_logger(__name__)

State = Literal["running", "verified", "broken", "unsealed", "failed", "interrupted"]
_LOCK_KEY = 0x534A434841494E  # "SJCHAIN": one start at a time per database
_PROGRESS_EVERY = 0.5  # seconds between two progress writes (and the last one always)



def _columns(stale_after: float) -> str:
    """A run's columns; one whose heartbeat is older than ``stale_after`` seconds is read as
    interrupted (its process is gone). The number is the service's setting, never input."""
    return f"""id, requested_by, requested_at, finished_at, checked, total, first_bad_position,
        reason, seals_checked, sealed_position, sealed_hash, sealed_at, refused_seals,
        CASE WHEN state = 'running' AND heartbeat_at < now() - {_interval(stale_after)}
             THEN 'interrupted' ELSE state END AS state"""


def _interval(seconds: float) -> str:
    return f"make_interval(secs => {float(seconds)!r})"


class SealView(BaseModel):
    """A sealed head: the position and chain hash its service signed and published."""

    position: int
    chain_hash: str  # hex
    sealed_at: datetime


class ChainVerification(BaseModel):
    """One verification of the store's chain: its state, progress and verdict."""

    id: int
    state: State
    requested_by: str
    requested_at: datetime
    finished_at: datetime | None
    checked: int  # positions checked so far
    total: int  # the head's position when the run started: what it checks
    first_bad_position: int | None
    reason: str | None
    seals_checked: bool  # checked against the sealed heads read from the heads topic
    latest_seal: SealView | None  # the latest of them that verified under the service's key
    refused_seals: int  # records on the heads topic that did not verify


class ChainStatus(BaseModel):
    """The store's chain now, and the latest verification of it."""

    service: str
    head_position: int
    head_chain_hash: str  # hex; empty for an empty store
    # The latest sealed head found by the latest finished verification (a seal is read from
    # the heads topic, which only a verification reads): None before the first one.
    last_sealed_head: SealView | None
    verification: ChainVerification | None


def _from_row(row: asyncpg.Record) -> ChainVerification:
    seal = None
    if row["sealed_position"] is not None:
        seal = SealView(position=row["sealed_position"],
                        chain_hash=bytes(row["sealed_hash"]).hex(), sealed_at=row["sealed_at"])
    return ChainVerification(
        id=row["id"], state=row["state"], requested_by=row["requested_by"],
        requested_at=row["requested_at"], finished_at=row["finished_at"],
        checked=row["checked"], total=row["total"],
        first_bad_position=row["first_bad_position"], reason=row["reason"],
        seals_checked=row["seals_checked"], latest_seal=seal,
        refused_seals=row["refused_seals"])


class ChainVerifications:
    """The store's verifications: start one, read the latest; ``close`` at shutdown."""

    def __init__(self, store: EventStore, *, service: str,
                 read_seals: Callable[[], Awaitable[Seals]], timeout: float = 3600.0,
                 stale_after: float = 60.0) -> None:
        """``read_seals``: the service's sealed heads, from its heads topic."""
        self.store, self.service, self.read_seals = store, service, read_seals
        self.timeout, self.stale_after = timeout, stale_after
        self._columns = _columns(stale_after)
        self._tasks: set[asyncio.Task[None]] = set()

    async def status(self) -> ChainStatus:
        async with self.store.pool.acquire() as conn:
            head = await conn.fetchrow("SELECT last_position, last_hash FROM event_head")
            latest = await conn.fetchrow(
                f"SELECT {self._columns} FROM chain_verifications ORDER BY id DESC LIMIT 1")
            sealed = await conn.fetchrow(
                f"SELECT {self._columns} FROM chain_verifications "
                "WHERE sealed_position IS NOT NULL ORDER BY id DESC LIMIT 1")
        return ChainStatus(
            service=self.service, head_position=head["last_position"],
            head_chain_hash=bytes(head["last_hash"]).hex(),
            last_sealed_head=_from_row(sealed).latest_seal if sealed else None,
            verification=_from_row(latest) if latest else None)

    async def start(self, requested_by: str) -> tuple[ChainVerification, bool]:
        """A new run, started in the background, and True; or the run under way and False."""
        async with self.store.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            await conn.execute(
                "UPDATE chain_verifications SET state = 'interrupted', finished_at = now(), "
                "reason = 'the service stopped before it finished' WHERE state = 'running' "
                f"AND heartbeat_at < now() - {_interval(self.stale_after)}")
            running = await conn.fetchrow(
                f"SELECT {self._columns} FROM chain_verifications WHERE state = 'running' "
                "ORDER BY id DESC LIMIT 1")
            if running is not None:
                return _from_row(running), False
            total = await conn.fetchval("SELECT last_position FROM event_head")
            row = await conn.fetchrow(
                "INSERT INTO chain_verifications (requested_by, total) VALUES ($1, $2) "
                f"RETURNING {self._columns}", requested_by, total)
        run = _from_row(row)
        task = asyncio.create_task(self._run(run.id), name=f"{self.service}-chain-verification")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        log.info("chain verification started", run=run.id, requested_by=requested_by)
        return run, True

    async def wait(self) -> None:
        """Until the runs this copy started are over (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Stop the runs under way: each is recorded as interrupted."""
        for task in self._tasks:
            task.cancel()
        await self.wait()

    async def _run(self, run_id: int) -> None:
        beating = asyncio.create_task(self._heartbeat(run_id))
        try:
            async with asyncio.timeout(self.timeout):
                seals = await self.read_seals()
                verdict = await verify_store(self.store, seals, progress=self._progress(run_id))
        except asyncio.CancelledError:
            await self._finish(run_id, "interrupted",
                               reason="the service stopped before it finished")
            raise
        except TimeoutError:
            await self._finish(run_id, "failed",
                               reason=f"not finished within {self.timeout:g} seconds")
        except Exception as exc:  # the database or the broker away: said, not hidden
            log.warning("chain verification failed", run=run_id, error=repr(exc))
            await self._finish(run_id, "failed", reason=f"could not be finished: {exc!r}"[:500])
        else:
            state: State = ("broken" if verdict.first_bad_position is not None
                            else "unsealed" if verdict.unsealed else "verified")
            seal = verdict.latest_seal
            await self._finish(
                run_id, state, checked=verdict.checked,
                first_bad_position=verdict.first_bad_position, reason=verdict.reason,
                seals_checked=verdict.seals_checked, refused_seals=verdict.refused_seals,
                sealed=(seal.position, seal.chain_hash, seal.sealed_at) if seal else None)
            log.info("chain verification finished", run=run_id, state=state,
                     checked=verdict.checked, first_bad_position=verdict.first_bad_position)
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

    def _progress(self, run_id: int) -> Callable[[int, int], Awaitable[None]]:
        last = 0.0

        async def progress(checked: int, total: int) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last < _PROGRESS_EVERY and checked < total:
                return
            last = now
            async with self.store.pool.acquire() as conn:
                await conn.execute("UPDATE chain_verifications SET checked = $2, total = $3, "
                                   "heartbeat_at = now() WHERE id = $1", run_id, checked, total)

        return progress

    async def _heartbeat(self, run_id: int) -> None:
        """Shows the run alive while it reads the seals or a batch (see the module)."""
        while True:
            await asyncio.sleep(self.stale_after / 4)
            with contextlib.suppress(Exception):  # a missed beat is made up by the next
                async with self.store.pool.acquire() as conn:
                    await conn.execute("UPDATE chain_verifications SET heartbeat_at = now() "
                                       "WHERE id = $1", run_id)

    async def _finish(self, run_id: int, state: State, *, checked: int | None = None,
                      first_bad_position: int | None = None, reason: str | None = None,
                      seals_checked: bool = False, refused_seals: int = 0,
                      sealed: tuple[int, bytes, datetime] | None = None) -> None:
        position, chain_hash, sealed_at = sealed or (None, None, None)
        try:
            async with asyncio.timeout(10), self.store.pool.acquire() as conn:
                await conn.execute(
                    """UPDATE chain_verifications
                          SET state = $2, finished_at = now(), heartbeat_at = now(),
                              checked = coalesce($3, checked), first_bad_position = $4,
                              reason = $5, seals_checked = $6, refused_seals = $7,
                              sealed_position = $8, sealed_hash = $9, sealed_at = $10
                        WHERE id = $1""",
                    run_id, state, checked, first_bad_position, reason, seals_checked,
                    refused_seals, position, chain_hash, sealed_at)
        except Exception as exc:  # the row stays 'running' and is read as interrupted
            log.warning("chain verification not recorded", run=run_id, error=repr(exc))
