"""A recompute job's chunks in a process of their own, at the lowest CPU priority.

A chunk is CPU-heavy Python: decoding thousands of input records, deriving, settling the
changed claims, building the payout events. In the service's process, even in a worker
thread, it shares the interpreter's lock with the event loop that answers the reads: the loop
waits for the lock at every turn (and, on a busy machine, for a low-priority thread holding
it to be scheduled again). Here it has an interpreter of its own; its process runs at nice
19 in the idle scheduling class (``SCHED_IDLE`` on Linux), so the service and the database go
first: a process of the normal class that wakes (a read's) takes the CPU from it at once.

The process does exactly what the service would (``jobs.step``: one chunk, one transaction
under the ledger lock, on its own connection to the service's database), so every guarantee
of ``jobs.py`` holds as it is: if the process dies mid-chunk, its transaction rolls back and
the chunk is done again; the service starts a new process for the next step. It is started
(``spawn``: nothing of the service's loop, threads or connections is inherited) when the
first job runs (not before: most of the time no job waits), kept for the next ones, and
stopped with the runner.

Most of a chunk's work is the database's (reading the workers' input, writing their lines and
events), done by the server process that serves this process's connection. When that server
runs on this machine (the embedded one, a database beside the service), it is given the
lowest priority too, so the job takes only CPU that reads and commands leave idle. Only a
server process reached through a local address and named ``postgres`` is touched; on another
machine, or without the right to lower its priority, the chunk simply runs at the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from shared.eventsourcing.db import create_pool
from shared.eventsourcing.store import EventStore
from shared.runtime.logging import configure_logging


class ChunkFailed(Exception):
    """A chunk raised in the worker process: its error's type and message, as text (the
    error itself may not cross the process boundary)."""


# -- in the worker process ------------------------------------------------------------------

_loop: asyncio.AbstractEventLoop | None = None
_pool: asyncpg.Pool | None = None
_store: EventStore | None = None
_local_server = False  # the database's server runs on this machine
_lowered: set[int] = set()  # server processes already given the lowest priority

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", ""})  # "": a Unix socket


def _is_local(dsn: str) -> bool:
    host = urlsplit(dsn).hostname or ""
    return host in LOCAL_HOSTS or host.startswith("/")


def _lowest_priority(pid: int) -> None:
    """Nice 19 and, where the system has it, the idle scheduling class (``SCHED_IDLE``): a
    process of any other class that wakes takes the CPU from it at once, where a nice-19
    process would still finish a slice of a few milliseconds first (0: this process)."""
    os.setpriority(os.PRIO_PROCESS, pid, 19)
    if hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))


def _lower_server_priority(pid: int) -> None:
    """The lowest CPU priority for the server process ``pid`` serving this connection, when
    it is a local ``postgres`` process (checked by name, so no other process is touched)."""
    if pid in _lowered:
        return
    _lowered.add(pid)
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/comm").read_text().strip() == "postgres":
            _lowest_priority(pid)


def end_with_parent(parent: int) -> None:
    """This process exits (within about a second) once ``parent``, the process that started
    it, is gone (the service passes its pid: this process may start after it has died):
    a service killed outright never shuts its worker down, and the worker would otherwise
    live on, holding a database connection. Exiting mid-chunk is safe: the chunk's
    transaction rolls back and the next runner does it again."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="watch-service", daemon=True).start()


def _start(dsn: str, log_level: str, log_format: str, service: int) -> None:
    global _loop, _pool, _store, _local_server
    end_with_parent(service)
    _local_server = _is_local(dsn)
    with contextlib.suppress(AttributeError, OSError):  # not Linux: the process alone
        _lowest_priority(0)
    configure_logging(log_level, log_format)
    _loop = asyncio.new_event_loop()
    _pool = _loop.run_until_complete(create_pool(dsn, min_size=1, max_size=1))
    _store = EventStore(_pool)


def _step(chunk: int) -> object:
    from services.funding.jobs import step  # jobs.py starts this module's processes

    assert _loop is not None and _pool is not None and _store is not None
    try:
        if _local_server:
            _lower_server_priority(_loop.run_until_complete(
                _pool.fetchval("SELECT pg_backend_pid()")))
        return _loop.run_until_complete(step(_pool, _store, chunk))
    except Exception as error:
        raise ChunkFailed(f"{type(error).__name__}: {error}") from None


# -- in the service -------------------------------------------------------------------------

class ChunkWorker:
    """The service's handle on its worker process (one at a time)."""

    def __init__(self, dsn: str, log_level: str, log_format: str) -> None:
        self._args = (dsn, log_level, log_format)
        self._executor: ProcessPoolExecutor | None = None

    async def step(self, chunk: int) -> object:
        """``jobs.step`` in the worker process: the job as the chunk left it, or None."""
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start, initargs=(*self._args, os.getpid()))
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, _step,
                                                                    chunk)
        except BrokenProcessPool:  # the process died: a new one for the next step
            self.close()
            raise

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
