"""Leadership: one process at a time, among the copies of a service on one database, runs the
jobs that must not run twice at once (the outbox relay and the head sealer).

The holder is whoever holds a PostgreSQL session advisory lock named after the role, on a
connection of its own (not the pool's). The others stand by and try to take it every
``retry_seconds``. The lock goes with the holder's session, so:

- **A holder that dies** (``kill -9``, a crash, its machine gone with a reset): its socket
  closes, its backend ends and the lock is free at once; a standby has it at its next try.
- **A holder that hangs** (stopped, its event loop blocked, its network silently gone): the
  lock connection is opened with ``idle_session_timeout`` = ``lease_seconds``, and the holder
  runs a query on it every ``lease_seconds / 3``. A holder that misses the lease has its
  session ended by the server, and the lock is free again. A standby takes over within
  ``lease_seconds + retry_seconds`` (3 + 1 s by default) of the holder's last sign of life.
- **A holder that comes back** after a hang notices at its next heartbeat that its session is
  gone and cancels what it was leading. Until then it may still be in the middle of a cycle:
  ``fence`` lets a writer check, inside its own transaction, that this process still holds
  the lock, so what such a holder writes (the relay's checkpoint) is refused; what it sent to
  the broker meanwhile is at most a repetition of events the new holder also sends, which
  every inbox drops as duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable

import asyncpg
import structlog

log = structlog.get_logger(__name__)

Lead = Callable[[], Awaitable[None]]


class LeadershipLost(Exception):
    """This process no longer holds the role it acted for."""


def lock_key(role: str) -> int:
    """The advisory lock's 64-bit key for ``role`` (stable across processes and versions)."""
    return int.from_bytes(hashlib.blake2b(f"songji.leader:{role}".encode(),
                                          digest_size=8).digest(), "big", signed=True)


# A bigint advisory lock shows in pg_locks as classid (high 32 bits), objid (low), objsubid 1.
_HELD_BY = """
    SELECT EXISTS (SELECT 1 FROM pg_locks
                   WHERE locktype = 'advisory' AND granted AND pid = $1 AND objsubid = 1
                     AND classid::bigint = $2 AND objid::bigint = $3
                     AND database = (SELECT oid FROM pg_database
                                     WHERE datname = current_database()))"""


class Leadership:
    """Holds ``role`` when it can and runs ``lead`` while it does (``run``)."""

    def __init__(self, dsn: str, role: str, *, lease_seconds: float = 3.0,
                 retry_seconds: float = 1.0, grace_seconds: float = 10.0) -> None:
        if lease_seconds < 1:
            raise ValueError("lease_seconds must be at least 1")
        self.dsn, self.role = dsn, role
        self.key = lock_key(role)
        self.lease_seconds, self.retry_seconds = lease_seconds, retry_seconds
        self.grace_seconds = grace_seconds
        self.holding = False
        self.terms = 0  # how many times this process became the holder
        self.acquired_at: float | None = None  # time.monotonic() of the latest acquisition
        self._conn: asyncpg.Connection | None = None
        self._pid: int | None = None  # the lock connection's backend
        self._stopping = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self, lead: Lead) -> None:
        """Stand by, hold, lead; again after losing the lock; until ``stop``. ``lead`` runs
        while the lock is held and is cancelled when it is lost; after ``stop`` it is given
        ``grace_seconds`` to end by itself (its owner asks it to) before it is cancelled."""
        try:
            while not self._stopping.is_set():
                try:
                    if await self._try_acquire():
                        await self._hold(lead)
                except Exception as exc:  # whatever broke the lock connection
                    # (the server ended the session: asyncpg may report that as an internal
                    # client error), the lock went with it: stand by again.
                    log.warning("leadership connection failed", role=self.role, error=repr(exc))
                    await self._close()
                await self._pause(self.retry_seconds)
        finally:
            self.holding = False
            await self._close()

    def stop(self) -> None:
        """Stop trying; a holder ends its term (see ``run``) and lets the lock go."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def fence(self, conn: asyncpg.Connection) -> None:
        """Raise LeadershipLost unless this process holds the role now: run it inside the
        transaction of a write only the holder may make, so the write and the check commit
        together."""
        if self._pid is None or not self.holding or not await conn.fetchval(
                _HELD_BY, self._pid, (self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF):
            raise LeadershipLost(self.role)

    # -- holding -----------------------------------------------------------------------------

    async def _try_acquire(self) -> bool:
        if self._conn is None or self._conn.is_closed():
            # The server ends this session when it stays idle for a lease: that is how a
            # hung holder loses the lock. Keepalives find a silent peer below that, too.
            lease_ms = str(int(self.lease_seconds * 1000))
            self._conn = await asyncio.wait_for(asyncpg.connect(
                self.dsn, server_settings={"idle_session_timeout": lease_ms,
                                           "application_name": f"songji {self.role}"}),
                timeout=self.lease_seconds * 2)
            self._pid = self._conn.get_server_pid()
        got = await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key,
                                        timeout=self.lease_seconds)
        return bool(got)

    async def _hold(self, lead: Lead) -> None:
        assert self._conn is not None
        self.holding = True
        self.terms += 1
        self.acquired_at = time.monotonic()
        log.info("leadership taken", role=self.role, term=self.terms)
        task = asyncio.create_task(lead(), name=f"lead-{self.role}")
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            while True:
                await asyncio.wait({task, stopping}, timeout=self.lease_seconds / 3,
                                   return_when=asyncio.FIRST_COMPLETED)
                if self._stopping.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(task), self.grace_seconds)
                    return
                if task.done():
                    if not task.cancelled() and task.exception() is not None:
                        log.error("the leader's work failed; the role is let go",
                                  role=self.role, error=repr(task.exception()))
                    await self._close()  # another copy (or this one, later) takes it up
                    return
                # A slow answer is no reason to let go (the session is busy, not idle, so the
                # server keeps it): only one that takes a whole lease, or fails.
                await self._conn.fetchval("SELECT 1", timeout=self.lease_seconds)
        finally:
            self.holding = False  # before anything else: ``fence`` refuses from here on
            stopping.cancel()
            task.cancel()
            await asyncio.gather(task, stopping, return_exceptions=True)
            if self._stopping.is_set():
                await self._close()
                log.info("leadership given up", role=self.role)
            else:
                log.warning("leadership lost", role=self.role)

    async def _close(self) -> None:
        conn, self._conn, self._pid = self._conn, None, None
        self.holding = False
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)
            if not conn.is_closed():
                conn.terminate()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
